"""The rule engine: tolerant field access, field matchers, sliding windows, first-seen sets, alert records."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pipeline.envelope import Envelope, utc_iso
from pipeline.transforms.rules import (
    Alert,
    AlertError,
    MemoryRuleState,
    RuleEngine,
    RuleInputError,
    RulesConfigError,
    alert_fingerprint,
    parse_duration,
    parse_rules,
)
from pipeline.transforms.rules._fields import compile_path, field_values

T0 = 1_800_000_000.0


def engine(rules: list[dict[str, Any]], *, params: dict[str, Any] | None = None,
           state: MemoryRuleState | None = None, domains: dict[str, list[str]] | None = None) -> RuleEngine:
    pack = parse_rules({"params": params or {}, "rules": rules})
    return RuleEngine(pack, state if state is not None else MemoryRuleState(json_roundtrip=True),
                      corp_domains=domains or {"c1": ["acme.com"]})


def one_rule(match: list[dict[str, Any]], **extra: Any) -> RuleEngine:
    return engine([{"name": "r", "match": match, **extra}])


# --- field access


def test_field_values_nested_flat_and_arrays() -> None:
    doc: dict[str, Any] = {
        "user": {"email": "a@acme.com"},
        "email.from.address": ["x@evil.com"],
        "email": {"to": {"address": ["b@acme.com", "c@other.org"]}},
        "items": [{"k": 1}, {"k": [2, 3]}, {"other": 4}],
        "exmail": {"options": {"drift": []}},
        "nullish": None,
    }
    assert field_values(doc, compile_path("user.email")) == ["a@acme.com"]
    assert field_values(doc, compile_path("email.from.address")) == ["x@evil.com"]
    assert field_values(doc, compile_path("email.to.address")) == ["b@acme.com", "c@other.org"]
    assert field_values(doc, compile_path("items.k")) == [1, 2, 3]
    assert field_values(doc, compile_path("exmail.options.drift")) == []
    assert field_values(doc, compile_path("nullish")) == []
    assert field_values(doc, compile_path("user.email.deeper")) == []
    assert field_values(doc, compile_path("missing.path")) == []
    with pytest.raises(ValueError, match="invalid field path"):
        compile_path("a..b")


# --- matchers


@pytest.mark.parametrize(("matcher", "doc", "expected"), [
    ({"field": "exmail.mail.status", "eq": 2}, {"exmail": {"mail": {"status": 2}}}, True),
    ({"field": "exmail.mail.status", "eq": "2"}, {"exmail": {"mail": {"status": 2}}}, True),
    ({"field": "exmail.mail.status", "eq": 2}, {"exmail": {"mail": {"status": 3}}}, False),
    ({"field": "flag", "eq": True}, {"flag": True}, True),
    ({"field": "flag", "eq": True}, {"flag": "true"}, True),
    ({"field": "flag", "eq": True}, {"flag": False}, False),
    ({"field": "x", "eq": "a"}, {}, False),
    ({"field": "x", "ne": "a"}, {}, True),
    ({"field": "x", "ne": "a"}, {"x": "a"}, False),
    ({"field": "x", "ne": "a"}, {"x": ["a", "b"]}, True),
    ({"field": "x", "in": [2, 4]}, {"x": 4}, True),
    ({"field": "x", "in": [2, 4]}, {"x": 3}, False),
    ({"field": "x", "not_in": [2, 4]}, {"x": 3}, True),
    ({"field": "x", "not_in": ["1"]}, {"x": 1}, False),
    ({"field": "x", "not_in": ["1"]}, {}, True),
    ({"field": "user.email", "in": ["Service@Acme.com"], "ignore_case": True}, {"user": {"email": "service@acme.COM"}},
     True),
    ({"field": "user.email", "in": ["Service@Acme.com"]}, {"user": {"email": "service@acme.com"}}, False),
    ({"field": "email.subject", "regex": "invoice|发票"}, {"email": {"subject": "Your 发票 is here"}}, True),
    ({"field": "email.subject", "regex": "^invoice$"}, {"email": {"subject": "an invoice"}}, False),
    ({"field": "email.subject", "not_regex": "invoice"}, {"email": {"subject": "hello"}}, True),
    ({"field": "x", "exists": True}, {"x": 0}, True),
    ({"field": "x", "exists": True}, {"x": ""}, False),
    ({"field": "x", "exists": True}, {"x": []}, False),
    ({"field": "x", "exists": True}, {"x": [{"a": 1}]}, True),
    ({"field": "x", "exists": False}, {}, True),
    ({"field": "email.from.address", "domain_not_in": ["$corp_domains"]},
     {"email": {"from": {"address": ["a@evil.com"]}}}, True),
    ({"field": "email.from.address", "domain_not_in": ["$corp_domains"]},
     {"email": {"from": {"address": ["a@ACME.com"]}}}, False),
    ({"field": "email.from.address", "domain_not_in": ["$corp_domains"]},
     {"email": {"from": {"address": ["a@mail.acme.com"]}}}, False),
    ({"field": "email.from.address", "domain_not_in": ["$corp_domains"]},
     {"email": {"from": {"address": ['"Eve" <eve@evil.com>']}}}, True),
    ({"field": "email.from.address", "domain_not_in": ["$corp_domains"]}, {"email": {"from": {"address": ["local"]}}},
     False),
    ({"field": "email.from.address", "domain_not_in": ["$corp_domains"]}, {}, False),
    ({"field": "email.to.address", "domain_not_in": ["$corp_domains", "partner.com"]},
     {"email": {"to": {"address": ["b@acme.com", "c@partner.com"]}}}, False),
    ({"field": "email.to.address", "domain_not_in": ["$corp_domains", "partner.com"]},
     {"email": {"to": {"address": ["b@acme.com", "c@gmail.com"]}}}, True),
    ({"field": "email.to.address", "domain_in": ["gmail.com"]}, {"email": {"to": {"address": ["c@gmail.com"]}}}, True),
    ({"field": "email.to.address", "domain_in": ["$corp_domains"]}, {"email": {"to": {"address": ["c@gmail.com"]}}},
     False),
])
def test_field_matchers(make_event: Any, matcher: dict[str, Any], doc: dict[str, Any], expected: bool) -> None:
    alerts = one_rule([matcher]).evaluate(make_event("exmail.mail_log", doc), now=T0)
    assert bool(alerts) is expected


def test_corp_domains_are_per_corp(make_event: Any) -> None:
    eng = engine([{"name": "ext", "match": [{"field": "email.from.address", "domain_not_in": ["$corp_domains"]}]}],
                 domains={"c1": ["acme.com"], "c2": ["beta.cn"]})
    doc = {"email": {"from": {"address": ["x@acme.com"]}}}
    assert eng.evaluate(make_event("exmail.new_mail", doc, corp="c1"), now=T0) == []
    assert len(eng.evaluate(make_event("exmail.new_mail", doc, corp="c2"), now=T0)) == 1


# --- match rules and the alert record


def test_match_alert_labels_annotations_and_times(make_event: Any) -> None:
    eng = engine([{
        "name": "ext_mail", "severity": "critical",
        "match": [{"field": "event.dataset", "eq": "exmail.new_mail"}],
        "labels_from": {"user": "user.email", "sender": "email.from.address"},
        "labels": {"team": "cs"},
        "annotations": {"summary": "to {{ labels.user }} from {{ field('email.from.address') }}",
                        "summary_zh": "{{ labels.user }} 收到 {{ fields('email.to.address', '/') }}"},
        "sso_user_field": "user.email", "action": "notify_owner", "resolve_timeout": "10m",
    }])
    event = make_event("exmail.new_mail", {"user": {"email": "cs@acme.com"},
                                           "email": {"from": {"address": ["x@evil.com"]},
                                                     "to": {"address": ["cs@acme.com", "b@acme.com"]}}},
                       t=T0 - 120, id="evt-1")
    [alert] = eng.evaluate(event, now=T0)
    assert alert.labels == {"alertname": "ext_mail", "severity": "critical", "corp": "c1", "user": "cs@acme.com",
                            "sender": "x@evil.com", "team": "cs"}
    assert alert.annotations == {"summary": "to cs@acme.com from x@evil.com",
                                 "summary_zh": "cs@acme.com 收到 cs@acme.com/b@acme.com"}
    assert alert.starts_at == T0 - 120
    assert alert.ends_at == T0 + 600, "ends_at = max(event time, now) + resolve_timeout"
    assert alert.event_ids == ["evt-1"]
    assert alert.sso_user == "cs@acme.com"
    assert alert.action == "notify_owner"
    assert alert.fingerprint == alert_fingerprint("ext_mail", alert.labels)


def test_fingerprint_is_stable_across_runs_and_ignores_event_ids(make_event: Any) -> None:
    """The fingerprint hashes rule name + sorted labels only; this value is pinned so a code change that would
    regroup every alert in flight after an upgrade fails here."""
    labels = {"alertname": "login_new_ip", "severity": "warning", "corp": "c1", "user": "a@acme.com",
              "ip": "1.2.3.4"}
    reordered = dict(reversed(labels.items()))
    assert alert_fingerprint("login_new_ip", labels) == alert_fingerprint("login_new_ip", reordered)
    assert alert_fingerprint("login_new_ip", labels) == "e2948bc416a8d5ce89e844f7bc60cd8d"
    rules = [{"name": "r", "match": [{"field": "event.dataset", "eq": "exmail.login_log"}]}]
    doc = {"user": {"email": "a@acme.com"}}
    first = engine(rules).evaluate(make_event("exmail.login_log", doc, id="one"), now=T0)[0]
    second = engine(rules).evaluate(make_event("exmail.login_log", doc, t=T0 + 50, id="two"), now=T0 + 50)[0]
    assert first.fingerprint == second.fingerprint
    assert first.event_ids != second.event_ids


def test_alert_envelope_round_trip_and_ids(make_event: Any) -> None:
    [alert] = one_rule([{"field": "event.dataset", "eq": "exmail.login_log"}]).evaluate(
        make_event("exmail.login_log", {"user": {"email": "a@acme.com"}}), now=T0)
    firing = alert.to_envelope(T0)
    decoded = Alert.from_envelope(Envelope.decode(firing.encode()))
    assert decoded == alert
    assert firing.schema == "exmail.alert/1" and firing.data["status"] == "firing"
    assert alert.kafka_key() == alert.fingerprint.encode()
    assert alert.to_envelope(T0 + 10).id == firing.id, "a refresh of the same firing alert keeps its id"
    resolved = alert.to_envelope(alert.ends_at)
    assert resolved.data["status"] == "resolved" and resolved.id != firing.id


@pytest.mark.parametrize(("payload", "message"), [
    ([], "must be a JSON object"),
    ({"labels": {}}, "'labels' must be a non-empty object"),
    ({"labels": {"a": 1}}, "must map strings to strings"),
    ({"labels": {"alertname": "x"}, "starts_at": "yesterday", "ends_at": "2027-01-01T00:00:00Z"}, "'starts_at'"),
    ({"labels": {"alertname": "x"}, "starts_at": "2027-01-01T00:00:00Z"}, "'ends_at'"),
    ({"labels": {"alertname": "x"}, "starts_at": "2027-01-01T00:00:00Z", "ends_at": "2027-01-01T00:00:00Z",
      "event_ids": "e1"}, "'event_ids'"),
])
def test_alert_from_dict_names_bad_field(payload: Any, message: str) -> None:
    with pytest.raises(AlertError, match=message):
        Alert.from_dict(payload)


def test_bad_event_is_a_clear_error(make_event: Any) -> None:
    eng = one_rule([{"field": "event.dataset", "eq": "exmail.login_log"}])
    event = make_event("exmail.login_log")
    event.occurred_at = "not a time"
    with pytest.raises(RuleInputError, match="occurred_at"):
        eng.evaluate(event, now=T0)


def test_broken_template_does_not_lose_the_alert(make_event: Any) -> None:
    eng = engine([{"name": "r", "match": [{"field": "event.dataset", "eq": "exmail.login_log"}],
                   "annotations": {"summary": "{{ 1 / 0 }}", "summary_zh": "ok"}}])
    [alert] = eng.evaluate(make_event("exmail.login_log", {"user": {"email": "a@acme.com"}}), now=T0)
    assert "template summary failed" in alert.annotations["summary"]
    assert alert.annotations["summary_zh"] == "ok"


def test_dataset_index_keeps_rules_without_dataset_matcher(make_event: Any) -> None:
    eng = engine([
        {"name": "login", "match": [{"field": "event.dataset", "eq": "exmail.login_log"}]},
        {"name": "any_failure", "match": [{"field": "event.outcome", "eq": "failure"}]},
    ])
    got = eng.evaluate(make_event("exmail.login_log", {"event": {"outcome": "failure"}}), now=T0)
    assert sorted(a.rule for a in got) == ["any_failure", "login"]
    got = eng.evaluate(make_event("exmail.mail_log", {"event": {"outcome": "failure"}}), now=T0)
    assert [a.rule for a in got] == ["any_failure"]
    assert eng.evaluate(make_event("exmail.mail_log"), now=T0) == []


# --- count windows


def count_engine(threshold: int = 3, window: str = "10m", **extra: Any) -> RuleEngine:
    return engine([{"name": "fails", "type": "count", "window": window, "threshold": threshold,
                    "match": [{"field": "event.dataset", "eq": "exmail.mail_log"},
                              {"field": "exmail.mail.status", "in": [2, 4]}],
                    "labels_from": {"user": "user.email"},
                    "annotations": {"summary": "{{ count }}/{{ threshold }} in {{ window }}"}, **extra}])


def fail(make_event: Any, t: float, user: str = "u@acme.com", status: int = 4) -> Envelope:
    return make_event("exmail.mail_log", {"user": {"email": user}, "exmail": {"mail": {"status": status}}}, t=t)


def test_count_fires_at_threshold_within_window(make_event: Any) -> None:
    eng = count_engine()
    assert eng.evaluate(fail(make_event, T0), now=T0) == []
    assert eng.evaluate(fail(make_event, T0 + 60), now=T0 + 60) == []
    [alert] = eng.evaluate(fail(make_event, T0 + 120), now=T0 + 120)
    assert alert.labels["user"] == "u@acme.com"
    assert alert.annotations["summary"] == "3/3 in 10m"
    assert alert.starts_at == T0 + 120
    assert len(alert.event_ids) == 3


def test_count_window_slides_and_is_per_key(make_event: Any) -> None:
    eng = count_engine()
    eng.evaluate(fail(make_event, T0), now=T0)
    eng.evaluate(fail(make_event, T0 + 300), now=T0 + 300)
    assert eng.evaluate(fail(make_event, T0 + 300, user="other@acme.com"), now=T0 + 300) == []
    assert eng.evaluate(fail(make_event, T0 + 650), now=T0 + 650) == [], "the event at T0 left the 10m window"
    assert eng.evaluate(fail(make_event, T0 + 655, status=3), now=T0 + 655) == [], "status 3 does not count"
    [alert] = eng.evaluate(fail(make_event, T0 + 660), now=T0 + 660)
    assert alert.annotations["summary"] == "3/3 in 10m"


def test_count_ignores_events_older_than_the_window(make_event: Any) -> None:
    eng = count_engine(threshold=2)
    eng.evaluate(fail(make_event, T0 + 3600), now=T0 + 3600)
    assert eng.evaluate(fail(make_event, T0), now=T0 + 3600) == [], "an hour-old late event cannot complete a window"


def test_count_refreshes_then_resolves(make_event: Any) -> None:
    """While the condition holds the alert is re-emitted every resolve_timeout/2 (so it never times out);
    a matching event that finds the window below threshold resolves it explicitly."""
    eng = count_engine(threshold=2, window="2m", resolve_timeout="10m")
    emitted = {t: eng.evaluate(fail(make_event, T0 + t), now=T0 + t) for t in range(0, 401, 50)}
    assert {t for t, got in emitted.items() if got} == {50, 350}
    first, refresh = emitted[50][0], emitted[350][0]
    assert first.ends_at == T0 + 50 + 600
    assert refresh.fingerprint == first.fingerprint
    assert refresh.starts_at == first.starts_at == T0 + 50, "a refresh keeps the firing episode's start"
    assert refresh.ends_at == T0 + 350 + 600
    [resolved] = eng.evaluate(fail(make_event, T0 + 600), now=T0 + 600)
    assert resolved.fingerprint == first.fingerprint and resolved.starts_at == T0 + 50
    assert resolved.resolved_at(T0 + 600) and resolved.ends_at == T0 + 600
    assert resolved.to_envelope(T0 + 600).data["status"] == "resolved"
    assert eng.evaluate(fail(make_event, T0 + 900), now=T0 + 900) == [], "resolved once, not again"


def test_count_new_episode_after_timeout(make_event: Any) -> None:
    eng = count_engine(threshold=1, resolve_timeout="5m", window="1m")
    [a] = eng.evaluate(fail(make_event, T0), now=T0)
    [b] = eng.evaluate(fail(make_event, T0 + 3600), now=T0 + 3600)
    assert b.fingerprint == a.fingerprint and b.starts_at == T0 + 3600


def test_count_does_not_count_a_redelivered_event_twice(make_event: Any) -> None:
    """Transforms are at-least-once: after a rebalance an event may be evaluated again. It must not count twice
    (two real failures and one repeated would fire a threshold of 3), nor change the window's state."""
    state = MemoryRuleState(json_roundtrip=True)
    eng = engine([{"name": "fails", "type": "count", "window": "10m", "threshold": 3,
                   "match": [{"field": "event.dataset", "eq": "exmail.mail_log"}],
                   "labels_from": {"user": "user.email"}}], state=state)
    first, second = fail(make_event, T0), fail(make_event, T0 + 60)
    assert eng.evaluate(first, now=T0) == []
    assert eng.evaluate(second, now=T0 + 60) == []
    stored = dict(state.items(""))
    assert eng.evaluate(second, now=T0 + 61) == [], "the same event again is not a third failure"
    assert eng.evaluate(first, now=T0 + 62) == []
    assert dict(state.items("")) == stored, "a repeated event leaves the window as it was"
    [alert] = eng.evaluate(fail(make_event, T0 + 120), now=T0 + 120)
    assert alert.annotations["summary"].startswith("fails") and len(alert.event_ids) == 3


def test_count_skips_events_without_key(make_event: Any) -> None:
    eng = count_engine(threshold=1)
    assert eng.evaluate(make_event("exmail.mail_log", {"exmail": {"mail": {"status": 4}}}), now=T0) == []


def test_window_state_is_small_json(make_event: Any) -> None:
    state = MemoryRuleState(json_roundtrip=True)
    eng = engine([{"name": "fails", "type": "count", "window": "10m", "threshold": 10_000,
                   "match": [{"field": "event.dataset", "eq": "exmail.mail_log"}]}], state=state)
    for i in range(3000):
        eng.evaluate(fail(make_event, T0 + i), now=T0 + i)
    [(key, value)] = list(state.items("r/"))
    assert key == "r/fails/c1/u@acme.com"
    assert len(value["b"]) <= 60
    assert len(orjson.dumps(value)) < 2048


def test_rate_rule(make_event: Any) -> None:
    eng = engine([{"name": "rate", "type": "rate", "window": "5m", "rate": 1, "per": "1m",
                   "match": [{"field": "event.dataset", "eq": "exmail.mail_log"}],
                   "annotations": {"summary": "{{ rate }}/min"}}])
    got = [eng.evaluate(fail(make_event, T0 + i * 10), now=T0 + i * 10) for i in range(5)]
    assert [len(x) for x in got] == [0, 0, 0, 0, 1], "1/min over 5m is 5 events in the window"
    assert got[-1][0].annotations["summary"] == "1.0/min"


# --- first seen


def new_ip_engine(**extra: Any) -> tuple[RuleEngine, MemoryRuleState]:
    state = MemoryRuleState(json_roundtrip=True)
    rule = {"name": "new_ip", "type": "first_seen", "value": "source.ip", "value_label": "ip",
            "match": [{"field": "event.dataset", "eq": "exmail.login_log"}], "labels_from": {"user": "user.email"},
            **extra}
    return engine([rule], state=state), state


def login(make_event: Any, t: float, ip: str, user: str = "u@acme.com", corp: str = "c1") -> Envelope:
    return make_event("exmail.login_log", {"user": {"email": user}, "source": {"ip": ip},
                                           "exmail": {"login": {"type": 1}}}, t=t, corp=corp)


def test_first_seen_alerts_on_new_value_only(make_event: Any) -> None:
    eng, _ = new_ip_engine()
    assert eng.evaluate(login(make_event, T0, "10.0.0.1"), now=T0) == [], "first value learns silently"
    assert eng.evaluate(login(make_event, T0 + 1, "10.0.0.1"), now=T0 + 1) == []
    [alert] = eng.evaluate(login(make_event, T0 + 2, "10.0.0.2"), now=T0 + 2)
    assert alert.labels["ip"] == "10.0.0.2" and alert.labels["user"] == "u@acme.com"
    assert eng.evaluate(login(make_event, T0 + 3, "10.0.0.2"), now=T0 + 3) == []


def test_first_seen_alert_on_empty_history(make_event: Any) -> None:
    eng, _ = new_ip_engine(alert_on_empty_history=True)
    assert len(eng.evaluate(login(make_event, T0, "10.0.0.1"), now=T0)) == 1


def test_first_seen_warmup_per_corp(make_event: Any) -> None:
    """During the warm-up after a corp's first event every value is learned silently."""
    eng, _ = new_ip_engine(warmup="1h", alert_on_empty_history=True)
    assert eng.evaluate(login(make_event, T0, "10.0.0.1"), now=T0) == []
    assert eng.evaluate(login(make_event, T0 + 1800, "10.0.0.2"), now=T0 + 1800) == []
    assert eng.evaluate(login(make_event, T0 + 1800, "10.9.9.9", user="b@acme.com"), now=T0 + 1800) == []
    assert len(eng.evaluate(login(make_event, T0 + 3600, "10.0.0.3"), now=T0 + 3600)) == 1
    assert eng.evaluate(login(make_event, T0 + 3700, "10.0.0.2"), now=T0 + 3700) == [], "learned in warm-up"
    assert eng.evaluate(login(make_event, T0 + 3600, "10.0.0.7", corp="c2"), now=T0 + 3600) == [], \
        "another corp starts its own warm-up"


def test_first_seen_warmup_per_key(make_event: Any) -> None:
    eng, _ = new_ip_engine(warmup="1h", warmup_scope="key", alert_on_empty_history=True)
    eng.evaluate(login(make_event, T0, "10.0.0.1"), now=T0)
    assert eng.evaluate(login(make_event, T0 + 7200, "10.0.0.9", user="late@acme.com"), now=T0 + 7200) == [], \
        "a user first seen late gets their own warm-up"
    assert len(eng.evaluate(login(make_event, T0 + 7200, "10.0.0.2"), now=T0 + 7200)) == 1


def test_first_seen_set_is_bounded_lru_with_ttl(make_event: Any) -> None:
    eng, state = new_ip_engine(max_values=2, value_ttl="1d")
    eng.evaluate(login(make_event, T0, "10.0.0.1"), now=T0)
    eng.evaluate(login(make_event, T0 + 1, "10.0.0.2"), now=T0 + 1)
    eng.evaluate(login(make_event, T0 + 2, "10.0.0.3"), now=T0 + 2)
    value: dict[str, Any] = state.get("r/new_ip/c1/u@acme.com") or {}
    assert sorted(value["v"]) == ["10.0.0.2", "10.0.0.3"], "least recently seen forgotten first"
    assert len(eng.evaluate(login(make_event, T0 + 3, "10.0.0.1"), now=T0 + 3)) == 1
    later = T0 + 2 * 86400
    assert eng.evaluate(login(make_event, later, "10.0.0.9"), now=later) == [], "all history expired: learn again"
    assert len(eng.evaluate(login(make_event, later, "10.0.0.3"), now=later)) == 1, "unseen for > ttl is new again"


def test_first_seen_login_type(make_event: Any) -> None:
    eng = engine([{"name": "new_client", "type": "first_seen", "value": "exmail.login.type",
                   "value_label": "login_type", "match": [{"field": "event.dataset", "eq": "exmail.login_log"}]}])
    eng.evaluate(login(make_event, T0, "10.0.0.1"), now=T0)
    imap = make_event("exmail.login_log", {"user": {"email": "u@acme.com"}, "exmail": {"login": {"type": 4}}},
                      t=T0 + 5)
    [alert] = eng.evaluate(imap, now=T0 + 5)
    assert alert.labels["login_type"] == "4"


# --- configuration


@pytest.mark.parametrize(("pack", "message"), [
    ({"rules": [{"name": "x", "type": "count", "window": "10m", "match": [{"field": "a", "eq": 1}]}],
      }, r"rules\[0\] \(x\): Value error, a count rule needs 'threshold'|a count rule needs 'threshold'"),
    ({"rules": [{"name": "x", "match": [{"field": "a", "eq": 1, "ne": 2}]}]}, r"rules\[0\] \(x\)\.match\[0\]"),
    ({"rules": [{"name": "x", "match": [{"field": "a", "regex": "("}]}]}, "does not compile"),
    ({"rules": [{"name": "x", "match": [{"field": "a", "in": "$nope"}]}]},
     r"rules\[0\]\.match\[0\]\.in: unknown parameter"),
    ({"rules": [{"name": "x", "window": "10m", "match": [{"field": "a", "eq": 1}]}]}, "'window' does not apply"),
    ({"rules": [{"name": "x", "type": "count", "window": "ten", "threshold": 1, "match": [{"field": "a", "eq": 1}]}]},
     r"rules\[0\] \(x\)\.window: not a duration"),
    ({"rules": [{"name": "x", "labels": {"alertname": "y"}}]}, "set by the engine"),
    ({"rules": [{"name": "x", "annotations": {"summary": "{% if %}"}}]}, r"rules\[0\] \(x\)\.annotations"),
    ({"rules": [{"name": "x"}, {"name": "x"}]}, "used twice"),
    ({"rules": [{"name": "x", "colour": "red"}]}, r"rules\[0\] \(x\)\.colour: Extra inputs"),
    ("rules: [", "not valid YAML"),
])
def test_config_errors_name_the_field(pack: Any, message: str) -> None:
    with pytest.raises(RulesConfigError, match=message):
        parse_rules(pack)


def test_params_substitute_and_override() -> None:
    pack = parse_rules({"params": {"n": 5, "doms": ["a.com", "b.com"]},
                        "rules": [{"name": "x", "type": "count", "window": "10m", "threshold": "$n",
                                   "match": [{"field": "t", "domain_in": ["$corp_domains", "$doms", "$$lit"]}]}]},
                       params={"n": 7})
    rule = pack.rules[0]
    assert rule.threshold == 7
    assert rule.match[0].domain_in == ["$corp_domains", "a.com", "b.com", "$lit"]


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("500ms") == 0.5
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration(0) == 0
    assert parse_duration("0") == 0
    for bad in ("", "5x", "h", "-1s", True, None):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_state_keys_are_strings_and_values_json(make_event: Any) -> None:
    state = MemoryRuleState(json_roundtrip=True)
    eng = engine([{"name": "new_ip", "type": "first_seen", "value": "source.ip",
                   "match": [{"field": "event.dataset", "eq": "exmail.login_log"}]}], state=state)
    eng.evaluate(login(make_event, T0, "10.0.0.1", user="we ird/user@acme.com"), now=T0)
    snapshot = state.snapshot()
    assert all(isinstance(k, str) for k in snapshot)
    assert "r/new_ip/c1/we%20ird%2Fuser@acme.com" in snapshot
    assert orjson.loads(orjson.dumps(snapshot)) == snapshot


def test_utc_iso_times_in_wire_form() -> None:
    alert = Alert(labels={"alertname": "x"}, annotations={}, starts_at=T0, ends_at=T0 + 1)
    assert alert.to_dict(T0)["starts_at"] == utc_iso(T0) == "2027-01-15T08:00:00.000Z"
