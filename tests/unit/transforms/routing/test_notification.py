"""Routing builds the one notification record: from routed alerts, byte for byte what the previous release
wrote to exmail.notifications."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pipeline.envelope import Envelope, fingerprint, seeded_fingerprint, utc_iso
from pipeline.notification import NOTIFICATION_SCHEMA, Notification
from pipeline.transforms.routing.notification import (
    alert_set_hash,
    build_notification,
    notification_id,
)
from pipeline.transforms.rules.alert import Alert
from tests.unit.test_notification import RECORD_TODAY

T = 1796040000.0


def _alerts() -> list[Alert]:
    return [
        Alert(labels={"alertname": "ManyFailedSends", "corp": "corpA", "user": "alice@corp.example",
                      "severity": "critical"},
              annotations={"summary": "alice failed 12 sends", "summary_zh": "alice 发信失败 12 次"},
              starts_at=T - 600, ends_at=T + 300, rule="many_failed_sends", event_ids=["e1", "e2"],
              sso_user="alice@corp.example"),
        Alert(labels={"alertname": "ManyFailedSends", "corp": "corpA", "user": "bob@corp.example",
                      "severity": "warning"},
              annotations={"summary": "bob failed 10 sends"},
              starts_at=T - 900, ends_at=T - 60, rule="many_failed_sends", event_ids=["e3"], action="disable_account"),
    ]


def _build(alerts: list[Alert]) -> Notification:
    return build_notification(
        id="5f0c7e6a9d1b4c2e8f3a6b9c0d1e2f3a", receiver="ops", group_key='{}:{alertname="ManyFailedSends"}',
        group_id="0123456789abcdef0123456789abcdef", group_labels={"alertname": "ManyFailedSends"}, route_id="{}",
        reason="some alerts resolved", sequence=2, sequence_start=T - 600, created_at=T, alerts=alerts,
        resolved=frozenset([alerts[1].fingerprint]))


def test_built_from_alerts_it_encodes_as_the_previous_release_did() -> None:
    assert _build(_alerts()).to_envelope().encode() == RECORD_TODAY
    assert _build(_alerts()).encode() == RECORD_TODAY, "the dispatcher's encode, without the Envelope"


@pytest.mark.parametrize("fields", [
    (["a" * 32], []), ([], ["b", "c"]), ('{}:{alertname="A", x="\\"é\n"}',), ({"b": 1, "a": [1.5, None]}, 7),
])
def test_seeded_fingerprints_are_the_fingerprints_of_the_previous_release(fields: tuple[object, ...]) -> None:
    """Group ids, alert-set hashes and notification ids are stored (nflog, ag/) and keyed on: never changed."""
    assert seeded_fingerprint(("exmail.group",), *fields) == fingerprint("exmail.group", *fields)
    assert seeded_fingerprint((NOTIFICATION_SCHEMA, "ops"), *fields) == fingerprint(NOTIFICATION_SCHEMA, "ops", *fields)
    assert alert_set_hash(["b", "a"], ["c"]) == fingerprint("exmail.alertset", ["a", "b"], ["c"])
    assert notification_id("ops", "{}:{}", "h", T, 3) == fingerprint(NOTIFICATION_SCHEMA, "ops", "{}:{}", "h",
                                                                     utc_iso(T), 3)


def test_delivery_decodes_what_routing_built_plus_the_receivers_view() -> None:
    built = _build(_alerts())
    assert built.status == "firing" and built.corp_id == "corpA" and built.kafka_key() == b"ops"
    assert built.title == "" and built.recipients == ()  # the receiver's view: filled when delivery decodes
    decoded = Notification.from_envelope(Envelope.decode(built.to_envelope().encode()))
    assert decoded == replace(built, title="[FIRING:1] ManyFailedSends",
                              recipients=("alice@corp.example", "bob@corp.example"))


def test_alerts_spanning_corps_put_the_record_under_corp_star() -> None:
    alerts = _alerts()
    alerts[1].labels["corp"] = "corpB"
    assert _build(alerts).to_envelope().corp_id == "*"
