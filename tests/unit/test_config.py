"""`pipeline check-config`: the example passes; every deliberate mistake is named with its path and a fix hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli import main
from pipeline.config import ConfigError, check_config, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pipeline.example.yaml"


def test_example_config_covers_every_section_and_passes() -> None:
    assert check_config(EXAMPLE) == []
    cfg = load_config(EXAMPLE)
    assert set(cfg.worker.agents) == {"normalize", "audit", "siem", "alerting", "delivery", "actions"}
    assert cfg.ingest is not None and cfg.ingest.kafka.bootstrap == cfg.kafka.bootstrap
    assert cfg.alerting.routing is not None  # typed sections: validated once, with the config
    kinds = {r.model_extra["kind"] for r in cfg.alerting.routing.receivers if "kind" in (r.model_extra or {})}
    assert kinds == {"wecom_robot", "wecom_app", "webhook", "dingtalk", "feishu"}
    assert cfg.alerting.rules.pack.rules and cfg.actions is not None
    assert {s["kind"] for s in cfg.worker.siem} == {"elasticsearch", "splunk_hec", "syslog", "jsonl_file"}
    assert cfg.worker.console is not None and cfg.worker.console.ingest_url


def test_three_deliberate_mistakes_are_all_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kafka:\n  partitions: zero\n"
        "alerting:\n  rules:\n    params: {failed_send_window: ten minutes}\n"
        "  routing:\n    route: {receiver: cs}\n    receivers:\n"
        "      - {name: cs, kind: wecom_robot, key: 'env:X', per_minute: 20, burst: 30}\n")
    result = CliRunner().invoke(main, ["check-config", str(bad)])
    assert result.exit_code == 1
    out = result.output
    assert "3 problem(s)" in out
    assert "kafka.partitions" in out and "whole number" in out
    assert "alerting.rules" in out and "send_failures_burst" in out and "window" in out
    assert "alerting.routing.receivers[0]" in out and "burst" in out


def test_unknown_fields_yaml_errors_and_cross_section_requirements_are_reported(tmp_path: Path) -> None:
    typo = tmp_path / "typo.yaml"
    typo.write_text("kafka:\n  bootstrapp: x:1\nworker:\n  agents: [normalize, actions, delivery]\n")
    paths = {i.path for i in check_config(typo)}
    assert {"kafka.bootstrapp"} <= paths
    broken = tmp_path / "broken.yaml"
    broken.write_text("kafka: [unclosed\n")
    (issue,) = check_config(broken)
    assert issue.path.startswith("line ") and "YAML" in issue.message
    needs = tmp_path / "needs.yaml"
    needs.write_text("worker:\n  agents: [normalize, actions, delivery]\n")
    paths = {i.path for i in check_config(needs)}
    assert {"ingest.corps", "alerting.routing"} <= paths


def test_resolve_secrets_reports_each_unresolvable_reference_without_its_value(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("EXMAIL_NOT_SET_FOR_TEST", raising=False)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("worker:\n  audit: {kind: postgres, dsn: 'env:EXMAIL_NOT_SET_FOR_TEST'}\n")
    assert check_config(cfg) == []
    issues = check_config(cfg, resolve_secrets=True)
    assert [i.path for i in issues] == ["worker.audit.dsn"]
    assert "EXMAIL_NOT_SET_FOR_TEST" in issues[0].message


def test_state_changing_apis_without_credentials_are_reported(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = tmp_path / "p.yaml"
    cfg.write_text("worker:\n  agents: [alerting]\n  http_port: 9102\n"
                   "alerting:\n  routing:\n    route: {receiver: r}\n    receivers: [{name: r}]\n")
    issues = check_config(cfg)
    assert [i.path for i in issues] == ["auth.tokens"] and "refuse to start" in issues[0].message
    cfg.write_text(cfg.read_text() + "auth:\n  tokens: [{name: ops, roles: [operator], token: 'env:OPS_TOKEN'}]\n")
    assert check_config(cfg) == []


def test_load_and_check_are_the_same_one_validation(tmp_path: Path) -> None:
    """Every section is a typed model: what check-config reports is exactly what a process refuses to load,
    with the path into the section that owns the field."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "worker:\n  siem:\n    - {kind: nope}\n    - {kind: syslog, host: 1}\n"
        "alerting:\n  routing:\n    route: {receiver: missing}\n    receivers: [{name: r}]\n"
        "actions: {bogus: 1}\n")
    paths = [i.path for i in check_config(bad)]
    assert paths == ["worker.siem[0].kind", "worker.siem[1].host", "alerting.routing.route.receiver", "actions.bogus"]
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert [i.path for i in info.value.issues] == paths


def test_receiver_secrets_stay_references_until_the_delivery_agent_builds_its_sinks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EXMAIL_TEST_ROBOT_KEY", raising=False)
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("alerting:\n  routing:\n    route: {receiver: cs}\n    receivers:\n"
                        "      - {name: cs, kind: wecom_robot, key: 'env:EXMAIL_TEST_ROBOT_KEY'}\n")
    cfg = load_config(cfg_file)  # loads where the variable is not set (ingest, demo, check-config)
    assert [i.path for i in check_config(cfg_file, resolve_secrets=True)] == ["alerting.routing.receivers[0].key"]
    monkeypatch.setenv("EXMAIL_TEST_ROBOT_KEY", "k-123")
    sink = cfg.alerting.receivers()["cs"]
    assert sink.key.get_secret_value() == "k-123"
