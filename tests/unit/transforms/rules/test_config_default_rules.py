"""Every rule of the shipped pack (default_rules.yaml) fires on a matching synthetic event and not on a near miss."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import Envelope, parse_iso
from pipeline.transforms.rules import MemoryRuleState, RuleEngine, load_default_rules

T0 = 1_800_000_000.0
PARAMS = {"cs_mailboxes": ["service@acme.com"], "internal_domains": ["partner.com"], "failed_send_threshold": 3,
          "mass_mail_threshold": 3, "new_ip_warmup": "1h"}

Make = Callable[..., Envelope]
Scenario = Callable[[Make], list[Envelope]]


def new_mail(make: Make, to: str, sender: str, t: float = T0) -> Envelope:
    return make("exmail.new_mail", {"user": {"email": to, "name": to.split("@")[0], "domain": to.split("@")[1]},
                                    "email": {"from": {"address": [sender]}, "to": {"address": [to]},
                                              "subject": "报价 quote", "direction": "inbound"}}, t=t)


def login(make: Make, ip: str, t: float) -> Envelope:
    return make("exmail.login_log", {"event": {"category": ["authentication"], "outcome": "success"},
                                     "user": {"email": "u@acme.com"}, "source": {"ip": ip},
                                     "exmail": {"login": {"type": 1, "type_name": "web", "ip": ip}}}, t=t)


def mail_log(make: Make, status: int, to: str = "x@gmail.com", direction: str = "outbound", t: float = T0) -> Envelope:
    return make("exmail.mail_log", {"user": {"email": "u@acme.com"},
                                    "email": {"from": {"address": ["u@acme.com"]}, "to": {"address": [to]},
                                              "direction": direction},
                                    "exmail": {"mail": {"status": status, "mailtype": 1}}}, t=t)


def operation(make: Make, op: int, operand: str = "victim@acme.com", remark: Any = None) -> Envelope:
    record: dict[str, Any] = {"type": op, "type_name": f"op{op}", "operator": "admin@acme.com", "operand": operand}
    if remark is not None:
        record["remark"] = remark
    return make("exmail.operation_log", {"user": {"email": "admin@acme.com"}, "exmail": {"operation": record}})


def options(make: Make, drift: list[dict[str, Any]]) -> Envelope:
    return make("exmail.options", {"user": {"email": "u@acme.com"},
                                    "exmail": {"options": {"userid": "u@acme.com", "values": {}, "changed": [],
                                                           "drift": drift}}})


def gap(make: Make, gap_risk: bool) -> Envelope:
    return make("exmail.pipeline_error", {"event": {"kind": "pipeline_error"}, "exmail": {"pipeline_error": {
        "stream": "c1/mail_log", "stage": "poll", "error_type": "api_error", "errcode": -1, "errmsg": "system busy",
        "window": {"begin_date": "2027-01-14", "end_date": "2027-01-15"}, "gap_risk": gap_risk}}})


DRIFT = [{"type": 1, "name": "force_secure_login", "desired": "1", "actual": "0"}]

CASES: dict[str, tuple[Scenario, Scenario]] = {
    "cs_external_mail": (
        lambda m: [new_mail(m, "Service@acme.com", "buyer@gmail.com")],
        lambda m: [new_mail(m, "service@acme.com", "colleague@acme.com"),
                   new_mail(m, "service@acme.com", "friend@partner.com"),
                   new_mail(m, "someone@acme.com", "buyer@gmail.com")],
    ),
    "login_new_ip": (
        lambda m: [login(m, "10.0.0.1", T0), login(m, "10.0.0.2", T0 + 7200)],
        lambda m: [login(m, "10.0.0.1", T0), login(m, "10.0.0.2", T0 + 60), login(m, "10.0.0.2", T0 + 7200)],
    ),
    "send_failures_burst": (
        lambda m: [mail_log(m, 4, t=T0), mail_log(m, 2, t=T0 + 60), mail_log(m, 4, t=T0 + 120)],
        lambda m: [mail_log(m, 4, t=T0), mail_log(m, 3, t=T0 + 60), mail_log(m, 4, t=T0 + 900)],
    ),
    "mass_external_mail": (
        lambda m: [mail_log(m, 3, t=T0 + i) for i in range(3)],
        lambda m: [mail_log(m, 3, to="b@acme.com", t=T0), mail_log(m, 3, to="c@partner.com", t=T0 + 1),
                   mail_log(m, 13, direction="inbound", t=T0 + 2)],
    ),
    "admin_user_removed": (
        lambda m: [operation(m, 20)],
        lambda m: [operation(m, 20, remark="1"), operation(m, 20, remark=1), operation(m, 21)],
    ),
    "admin_security_change": (
        lambda m: [operation(m, 40, operand="")],
        lambda m: [operation(m, 39, operand=""), operation(m, 23)],
    ),
    "settings_drift": (
        lambda m: [options(m, DRIFT)],
        lambda m: [options(m, [])],
    ),
    "pipeline_gap": (
        lambda m: [gap(m, True)],
        lambda m: [gap(m, False)],
    ),
}


def run(make: Make, events: list[Envelope]) -> list[list[Any]]:
    engine = RuleEngine(load_default_rules(PARAMS), MemoryRuleState(json_roundtrip=True),
                        corp_domains={"c1": ["acme.com"]})
    return [engine.evaluate(e, now=parse_iso(e.occurred_at).timestamp()) for e in events]


def test_every_default_rule_is_covered() -> None:
    assert set(CASES) == {r.name for r in load_default_rules().rules}


@pytest.mark.parametrize("rule", sorted(CASES))
def test_default_rule_fires(make_event: Make, rule: str) -> None:
    hit, _ = CASES[rule]
    results = run(make_event, hit(make_event))
    assert all(a.rule != rule for batch in results[:-1] for a in batch), "fires on the last event, not before"
    [alert] = [a for a in results[-1] if a.rule == rule]
    assert alert.labels["alertname"] == rule and alert.labels["corp"] == "c1"
    summary, summary_zh = alert.annotations["summary"], alert.annotations["summary_zh"]
    assert summary and "template" not in summary and "template" not in summary_zh
    assert re.search(r"[\u4e00-\u9fff]", summary_zh), "the Chinese summary is Chinese"
    assert alert.ends_at > alert.starts_at


@pytest.mark.parametrize("rule", sorted(CASES))
def test_default_rule_ignores_near_miss(make_event: Make, rule: str) -> None:
    _, miss = CASES[rule]
    results = run(make_event, miss(make_event))
    assert [a for batch in results for a in batch if a.rule == rule] == []


def test_default_rule_details(make_event: Make) -> None:
    [cs] = run(make_event, [new_mail(make_event, "service@acme.com", '"Buyer" <buyer@gmail.com>')])[0]
    assert cs.sso_user == "service@acme.com", "new-mail alerts name the mailbox for the SSO link"
    assert cs.annotations["summary"] == 'New mail to service@acme.com from "Buyer" <buyer@gmail.com>: 报价 quote'
    [removed] = run(make_event, [operation(make_event, 22)])[0]
    assert removed.labels["target"] == "victim@acme.com"
    assert removed.annotations["summary"] == "Admin admin@acme.com disabled member victim@acme.com"
    assert removed.annotations["summary_zh"] == "管理员 admin@acme.com 禁用了成员 victim@acme.com"
    [drift] = run(make_event, [options(make_event, [*DRIFT, {"type": 2, "name": "imap_smtp", "desired": "0",
                                                             "actual": "1"}])])[0]
    assert drift.annotations["summary"] == ("u@acme.com drifted from policy: force_secure_login=0 (want 1); "
                                            "imap_smtp=1 (want 0)")
    assert drift.annotations["summary_zh"] == ("u@acme.com 的邮箱设置偏离策略：force_secure_login=0（应为 1）；"
                                               "imap_smtp=1（应为 0）")
    [gap_alert] = run(make_event, [gap(make_event, True)])[0]
    assert gap_alert.labels["stream"] == "c1/mail_log" and gap_alert.labels["severity"] == "critical"
    assert "2027-01-14..2027-01-15" in gap_alert.annotations["summary"]


def test_default_pack_without_params_is_quiet_for_cs_mail(make_event: Make) -> None:
    engine = RuleEngine(load_default_rules(), MemoryRuleState(), corp_domains={"c1": ["acme.com"]})
    assert engine.evaluate(new_mail(make_event, "service@acme.com", "x@gmail.com"), now=T0) == []
