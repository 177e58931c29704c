"""ops/grafana: the dashboard is the generator's output, its panels are complete and laid out, its variables
are defined, its PromQL parses, and the provisioning files point at what docker-compose.yml mounts."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

BUILTIN_VARIABLES = {"__rate_interval", "__interval", "__range", "__all"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def _content_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def test_committed_json_is_the_generator_output(repo: Path, dashboard_builder: ModuleType) -> None:
    committed = (repo / "ops" / "grafana" / "dashboards" / "exmail-pipeline.json").read_text(encoding="utf-8")
    assert committed == dashboard_builder.render(), (
        "ops/grafana/dashboards/exmail-pipeline.json is stale: "
        "run `.venv/bin/python ops/grafana/build_dashboard.py`")


def test_dashboard_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "exmail-pipeline"
    assert dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == ["Overview", "Sources", "Exmail API client", "Transforms", "Alerting and delivery",
                    "Sinks", "Custom clients (SSE)", "Operator surfaces (auth, SSO links)"]


def test_every_panel_has_a_datasource_and_complete_targets(dashboard: dict[str, Any]) -> None:
    panels = _content_panels(dashboard)
    assert len(panels) >= 30
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["targets"], panel["title"]
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip() and target["legendFormat"], panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]


def test_panel_ids_are_unique_and_the_grid_has_no_overlaps(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    taken: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"])
                 for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_templating_defines_every_variable_the_queries_use(dashboard: dict[str, Any],
                                                          dashboard_exprs: list[tuple[str, str]]) -> None:
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert {"datasource", "corp", "stream", "receiver"} <= set(variables)
    source = variables["datasource"]
    assert source["type"] == "datasource" and source["query"] == "prometheus"
    for name in ("corp", "stream", "receiver"):
        var = variables[name]
        assert var["type"] == "query" and var["datasource"] == DATASOURCE
        assert var["includeAll"] and var["multi"] and var["allValue"] == ".*"
        assert var["definition"].startswith("label_values(") and f", {name})" in var["definition"]
    for where, expr in dashboard_exprs:
        used = set(re.findall(r"\$\{?(\w+)", expr)) - BUILTIN_VARIABLES
        assert used <= set(variables), f"{where}: undefined variable(s) {sorted(used - set(variables))}"
        for name in used & {"corp", "stream", "receiver", "sink"}:
            assert f'=~"${name}"' in expr, f"{where}: multi-value ${name} needs a regex matcher"


def test_dashboard_promql_parses(promtool: str, dashboard_exprs: list[tuple[str, str]],
                                 tmp_path: Path) -> None:
    """promtool parses each expression as a recording rule (Grafana's $__ intervals become 5m)."""
    rules = [{"record": f"dashboard:expr_{i}", "expr": re.sub(r"\$__\w+", "5m", expr)}
             for i, (_, expr) in enumerate(dashboard_exprs) if not expr.startswith("label_values(")]
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    res = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(rules)} rules found" in res.stdout + res.stderr


def test_datasource_provisioning_points_at_the_compose_prometheus(repo: Path,
                                                                  compose: dict[str, Any]) -> None:
    path = repo / "ops/grafana/provisioning/datasources/prometheus.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["apiVersion"] == 1
    (source,) = data["datasources"]
    assert source["type"] == "prometheus" and source["access"] == "proxy" and source["isDefault"] is True
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"]


def test_dashboard_provisioning_path_is_where_compose_mounts_the_dashboards(
        repo: Path, compose: dict[str, Any], volume_mounts: Callable[[dict[str, Any]], dict[str, Any]],
) -> None:
    path = repo / "ops/grafana/provisioning/dashboards/exmail.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["apiVersion"] == 1
    (provider,) = data["providers"]
    assert provider["type"] == "file"
    grafana = compose["services"]["grafana"]
    mounts = volume_mounts(grafana)
    assert mounts["./ops/grafana/dashboards"].target == provider["options"]["path"]
    assert mounts["./ops/grafana/provisioning"].target == "/etc/grafana/provisioning"
    assert mounts["./ops/grafana/dashboards"].read_only and mounts["./ops/grafana/provisioning"].read_only
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == provider["options"]["path"] + "/exmail-pipeline.json"
    assert (repo / "ops/grafana/dashboards/exmail-pipeline.json").is_file()
