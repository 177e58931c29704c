"""ops/prometheus: promtool validates the config and rules and runs the rule unit tests; every rule is
annotated, has a runbook section and a test that makes it fire and one that keeps it quiet."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROM = Path(__file__).resolve().parents[3] / "ops" / "prometheus"


def _promtool(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, *args], cwd=PROM, capture_output=True, text=True, timeout=120,
                          check=False)


def _anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of the markdown headings."""
    anchors = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^a-z0-9 _-]", "", title).replace(" ", "-"))
    return anchors


def test_promtool_check_config(promtool: str) -> None:
    res = _promtool(promtool, "check", "config", "prometheus.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout + res.stderr


def test_promtool_check_rules(promtool: str, alert_rules: list[dict[str, Any]]) -> None:
    res = _promtool(promtool, "check", "rules", "alerts.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(alert_rules)} rules found" in res.stdout + res.stderr


def test_promtool_rule_unit_tests_pass(promtool: str) -> None:
    res = _promtool(promtool, "test", "rules", "alerts.test.yml")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout + res.stderr


def test_promtool_rule_unit_tests_catch_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    """The unit tests are not vacuous: raising a threshold out of reach makes them fail."""
    rules = (PROM / "alerts.yml").read_text(encoding="utf-8")
    broken = rules.replace("> 900", "> 90000", 1)
    assert broken != rules
    (tmp_path / "alerts.yml").write_text(broken, encoding="utf-8")
    (tmp_path / "alerts.test.yml").write_text((PROM / "alerts.test.yml").read_text(encoding="utf-8"),
                                              encoding="utf-8")
    res = subprocess.run([promtool, "test", "rules", "alerts.test.yml"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    assert res.returncode != 0
    assert "PipelinePollerStalled" in res.stdout + res.stderr


def test_config_loads_the_rules_and_scrapes_every_pipeline_process() -> None:
    config = yaml.safe_load((PROM / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert {"exmail-ingest", "exmail-worker", "exmail-sim"} <= jobs


def test_every_rule_has_severity_annotations_and_a_runbook_section(alert_rules: list[dict[str, Any]],
                                                                   repo: Path) -> None:
    anchors = _anchors((repo / "docs" / "operations.md").read_text(encoding="utf-8"))
    names = [rule["alert"] for rule in alert_rules]
    assert len(names) == len(set(names))
    for rule in alert_rules:
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook", "runbook_url"} <= set(annotations), rule["alert"]
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path == "docs/operations.md" and anchor == rule["alert"].lower(), rule["alert"]
        assert anchor in anchors, f"docs/operations.md has no section '{rule['alert']}'"


def test_every_rule_is_tested_firing_and_quiet(alert_rules: list[dict[str, Any]]) -> None:
    tests = yaml.safe_load((PROM / "alerts.test.yml").read_text(encoding="utf-8"))
    assert tests["rule_files"] == ["alerts.yml"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules}
    assert names - firing == set(), "rules never shown to fire"
    assert names - quiet == set(), "rules never shown to stay quiet"
    assert (firing | quiet) - names == set(), "tests of rules that do not exist"


def test_scrape_targets_are_the_compose_services_on_their_ports(compose: dict[str, Any],
                                                                service_ports: dict[str, int]) -> None:
    config = yaml.safe_load((PROM / "prometheus.yml").read_text(encoding="utf-8"))
    targets = {job["job_name"]: [t for sc in job["static_configs"] for t in sc["targets"]]
               for job in config["scrape_configs"]}
    for service, port in service_ports.items():
        assert targets[f"exmail-{service}"] == [f"{service}:{port}"]
        assert service in compose["services"]


@pytest.mark.parametrize("alert", ["PipelineDLQGrowing", "PipelineDeliveryFailures"])
def test_single_event_rules_see_the_first_increment(alert: str, alert_rules: list[dict[str, Any]]) -> None:
    """A labelled counter is born at 1, which increase() cannot see: those rules also take new series."""
    expr = next(rule["expr"] for rule in alert_rules if rule["alert"] == alert)
    assert "offset 15m" in expr and "unless" in expr and "up offset 15m" in expr
