"""The one record on exmail.notifications: a record as routing wrote it in the previous release decodes (and
encodes back byte for byte), delivery's per-language view, and clear errors naming the bad field."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from pipeline.envelope import Envelope
from pipeline.notification import NOTIFICATION_SCHEMA, AlertItem, Notification, NotificationError, SsoLink

# Written by the previous release's routing (pipeline/transforms/routing/notification.py at main 9daca86):
# one firing alert with an sso_user and a Chinese summary, one resolved alert with an action.
RECORD_TODAY = (
    '{"schema":"exmail.notification/1","id":"5f0c7e6a9d1b4c2e8f3a6b9c0d1e2f3a","corp_id":"corpA'
    '","source":"pipeline.transforms.routing","observed_at":"2026-11-30T12:00:00.000Z","occurre'
    'd_at":"2026-11-30T12:00:00.000Z","data":{"receiver":"ops","status":"firing","reason":"some'
    ' alerts resolved","group_key":"{}:{alertname=\\"ManyFailedSends\\"}","group_id":"0123456789a'
    'bcdef0123456789abcdef","group_labels":{"alertname":"ManyFailedSends"},"common_labels":{"al'
    'ertname":"ManyFailedSends","corp":"corpA"},"route_id":"{}","sequence":2,"sequence_start":"'
    '2026-11-30T11:50:00.000Z","firing":1,"resolved":1,"alerts":[{"fingerprint":"37662209f8bcb6'
    'bbbce82f83abb6d613","status":"firing","rule":"many_failed_sends","labels":{"alertname":"Ma'
    'nyFailedSends","corp":"corpA","user":"alice@corp.example","severity":"critical"},"annotati'
    'ons":{"summary":"alice failed 12 sends","summary_zh":"alice 发信失败 12 次"},"starts_at":"2026-'
    '11-30T11:50:00.000Z","ends_at":"2026-11-30T12:05:00.000Z","event_ids":["e1","e2"],"action"'
    ':null,"sso_user":"alice@corp.example"},{"fingerprint":"c0c9650dc8f41c058bd71aa9482d1548","'
    'status":"resolved","rule":"many_failed_sends","labels":{"alertname":"ManyFailedSends","cor'
    'p":"corpA","user":"bob@corp.example","severity":"warning"},"annotations":{"summary":"bob f'
    'ailed 10 sends"},"starts_at":"2026-11-30T11:45:00.000Z","ends_at":"2026-11-30T11:59:00.000'
    'Z","event_ids":["e3"],"action":"disable_account","sso_user":null}],"title":"[FIRING:1] Man'
    'yFailedSends","title_zh":"【告警 1 条】 ManyFailedSends","summary":"[critical] alice failed 12 '
    'sends\\n[resolved] bob failed 10 sends","summary_zh":"[critical] alice 发信失败 12 次\\n[已恢复] bob'
    ' failed 10 sends"}}'
).encode()


class Signer:
    def link(self, corp_id: str, user: str) -> str:
        return f"https://sso.example/r?c={corp_id}&u={user}&t=secret-token"


def decode(value: bytes = RECORD_TODAY, language: str = "en", signer: Signer | None = None) -> Notification:
    return Notification.from_envelope(Envelope.decode(value), language, signer)


def test_a_record_written_by_the_previous_release_decodes_for_an_english_receiver() -> None:
    n = decode(signer=Signer())
    assert (n.receiver, n.id, n.idempotency_key, n.corp_id) == (
        "ops", "5f0c7e6a9d1b4c2e8f3a6b9c0d1e2f3a", "5f0c7e6a9d1b4c2e8f3a6b9c0d1e2f3a", "corpA")
    assert n.group_key == '{}:{alertname="ManyFailedSends"}' and n.group_labels == {"alertname": "ManyFailedSends"}
    assert (n.group_id, n.route_id, n.reason, n.sequence) == (
        "0123456789abcdef0123456789abcdef", "{}", "some alerts resolved", 2)
    assert n.sequence_start == 1796040000.0 - 600 and n.created_at == 1796040000.0
    assert n.title == "[FIRING:1] ManyFailedSends" and n.status == "firing" and n.severity == "critical"
    alice, bob = n.alerts
    assert (alice.status, alice.severity, alice.summary) == ("firing", "critical", "alice failed 12 sends")
    assert (bob.status, bob.severity, bob.summary) == ("resolved", "warning", "bob failed 10 sends")
    assert alice.starts_at == "2026-11-30T11:50:00.000Z" and bob.ends_at == "2026-11-30T11:59:00.000Z"
    assert alice.event_ids == ("e1", "e2") and bob.action == "disable_account" and alice.rule == "many_failed_sends"
    assert n.resolved == {bob.fingerprint} and n.firing_alerts == [alice] and n.resolved_alerts == [bob]
    assert n.recipients == ("alice@corp.example", "bob@corp.example")
    # only the firing alert's sso_user gets a link, signed for the alert's corp
    assert n.sso_links == (SsoLink("Open mailbox alice@corp.example",
                                   "https://sso.example/r?c=corpA&u=alice@corp.example&t=secret-token"),)
    assert n.text == "" and n.markdown == ""


def test_a_chinese_receiver_reads_the_chinese_title_and_summaries() -> None:
    n = decode(language="zh", signer=Signer())
    assert n.title == "【告警 1 条】 ManyFailedSends"
    assert [a.summary for a in n.alerts] == ["alice 发信失败 12 次", "bob failed 10 sends"]  # falls back to English
    assert [s.label for s in n.sso_links] == ["登录邮箱 alice@corp.example"]


def test_encoding_a_decoded_record_gives_back_the_same_bytes() -> None:
    assert decode().to_envelope().encode() == RECORD_TODAY
    assert decode(language="zh").to_envelope().encode() == RECORD_TODAY


def test_sso_links_and_their_tokens_never_reach_the_wire_or_reprs() -> None:
    n = decode(signer=Signer())
    assert n.sso_links and b"secret-token" not in n.to_envelope().encode()
    assert "secret-token" not in repr(n)


def test_round_trip_of_a_built_notification() -> None:
    alert = AlertItem(labels={"alertname": "A", "corp": "c1", "user": "u1@c1.example", "severity": "high"},
                      annotations={"summary": "s"}, severity="high", summary="s", starts_at="2026-11-30T11:00:00.000Z",
                      ends_at="2026-11-30T12:00:00.000Z", fingerprint="f1", rule="r", event_ids=("e1",))
    n = Notification(receiver="ops", group_key="{}:{}", idempotency_key="a" * 32, alerts=(alert,),
                     title="[FIRING:1] A", recipients=("u1@c1.example",), corp_id="c1", reason="first notification",
                     group_id="b" * 32, group_labels={}, route_id="{}", sequence=0,
                     sequence_start=1796040000.0, created_at=1796040030.0)
    assert decode(n.to_envelope().encode()) == n


def test_a_minimal_record_decodes_with_defaults_and_takes_its_corp_from_the_envelope() -> None:
    env = Envelope(schema=NOTIFICATION_SCHEMA, id="n1", corp_id="corpA", source="grouping",
                   occurred_at="2026-11-29T00:00:00.000Z",
                   data={"receiver": "ops", "group_key": "g", "alerts": [{"labels": {"alertname": "A"}}]})
    n = Notification.from_envelope(env)
    assert (n.corp_id, n.id, n.title, n.sequence, n.group_labels) == ("corpA", "n1", "", 0, {})
    [a] = n.alerts
    assert (a.status, a.severity, a.summary, a.annotations, a.starts_at) == ("firing", "warning", "A", {}, None)


def _data() -> dict[str, Any]:
    data: dict[str, Any] = copy.deepcopy(orjson.loads(RECORD_TODAY)["data"])
    return data


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("receiver"), "'receiver' must be a non-empty string"),
    (lambda d: d.update(group_key=""), "'group_key' must be a non-empty string"),
    (lambda d: d.update(alerts="x"), "'alerts' must be a list"),
    (lambda d: d["alerts"].append("x"), r"alerts\[2\] must be an object"),
    (lambda d: d["alerts"][0].update(status="pending"), r"alerts\[0\]\.status"),
    (lambda d: d["alerts"][1].update(labels=[1]), r"alerts\[1\]\.labels"),
    (lambda d: d["alerts"][1].update(labels={"alertname": 1}), r"alerts\[1\]\.labels"),
    (lambda d: d["alerts"][0].update(annotations={"summary": None}), r"alerts\[0\]\.annotations"),
    (lambda d: d["alerts"][0].update(event_ids="e1"), r"alerts\[0\]\.event_ids"),
    (lambda d: d["alerts"][0].update(sso_user=5), r"alerts\[0\]\.sso_user"),
    (lambda d: d["alerts"][1].update(starts_at=1796040000), r"alerts\[1\]\.starts_at"),
    (lambda d: d.update(title=5), "'title'"),
    (lambda d: d.update(group_labels={"alertname": ["x"]}), "'group_labels'"),
    (lambda d: d.update(sequence="2"), "'sequence'"),
    (lambda d: d.update(sequence_start="yesterday"), "'sequence_start'"),
    (lambda d: d.update(reason=None, route_id=3), "'route_id'"),
])
def test_malformed_records_name_the_field(mutate: Any, message: str) -> None:
    data = _data()
    mutate(data)
    with pytest.raises(NotificationError, match=message):
        Notification.from_dict(data, "n1", "corpA")


def test_a_bad_chinese_title_is_named_for_a_chinese_receiver() -> None:
    data = _data()
    data["title_zh"] = ["x"]
    with pytest.raises(NotificationError, match="'title_zh'"):
        Notification.from_dict(data, "n1", "corpA", "zh")
    assert Notification.from_dict(data, "n1", "corpA", "en").title == "[FIRING:1] ManyFailedSends"


def test_not_an_object_and_a_bad_envelope_time_are_named() -> None:
    with pytest.raises(NotificationError, match="must be a JSON object, got list"):
        Notification.from_dict([], "n1")
    with pytest.raises(NotificationError, match="'occurred_at'"):
        Notification.from_dict(_data(), "n1", created_at="soon")


def test_severity_is_the_first_most_severe_of_the_firing_alerts() -> None:
    """What a stable sort by rank gives (unknown severities rank last), taken with min()."""
    from hypothesis import given
    from hypothesis import strategies as st

    from pipeline.notification import SEVERITIES

    def by_sorting(n: Notification) -> str:
        pool = [a.severity for a in n.alerts if a.status == "firing"] or [a.severity for a in n.alerts]
        ranked = sorted(pool, key=lambda s: SEVERITIES.index(s) if s in SEVERITIES else len(SEVERITIES))
        return ranked[0] if ranked else "info"

    alert = st.builds(AlertItem, labels=st.just({}), status=st.sampled_from(["firing", "resolved"]),
                      severity=st.sampled_from([*SEVERITIES, "odd", "other"]))

    @given(alerts=st.lists(alert, max_size=5))
    def check(alerts: list[AlertItem]) -> None:
        n = Notification("ops", "g", "k", tuple(alerts))
        assert n.severity == by_sorting(n)

    check()


def test_times_are_parsed_once_and_bad_ones_still_named() -> None:
    data = orjson.loads(RECORD_TODAY)["data"]
    first = Notification.from_dict(copy.deepcopy(data), "k1", created_at="2026-11-30T12:00:00.000Z")
    again = Notification.from_dict(copy.deepcopy(data), "k2", created_at="2026-11-30T12:00:00.000Z")
    assert first.created_at == again.created_at == 1_796_040_000.0  # 2026-11-30T12:00:00Z
    with pytest.raises(NotificationError, match="sequence_start"):
        Notification.from_dict({**data, "sequence_start": "yesterday"}, "k3", created_at="2026-11-30T12:00:00.000Z")
    with pytest.raises(NotificationError, match="occurred_at"):
        Notification.from_dict(data, "k4", created_at=12)  # type: ignore[arg-type]
