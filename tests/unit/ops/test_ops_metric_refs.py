"""Every metric the dashboard and the alert rules query exists in pipeline.metrics, with the labels they use.

The catalog, references and groupings are the conftest.py fixtures' objects (Series, Reference, Grouping).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

Scan = Callable[[str], list[Any]]
Catalog = dict[str, Any]



def _hint(name: str, catalog: Catalog) -> str:
    close = sorted(n for n in catalog if n.startswith(name) or name.startswith(catalog[n].family))
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _check_names(exprs: list[tuple[str, str]], catalog: Catalog,
                 references: Scan) -> list[str]:
    problems = []
    for where, expr in exprs:
        for ref in references(expr):
            if ref.name not in catalog:
                hint = _hint(ref.name, catalog)
                problems.append(f"{where}: {ref.name} is not a series of pipeline.metrics{hint}")
    return problems


def _check_labels(exprs: list[tuple[str, str]], catalog: Catalog, references: Scan, groupings: Scan,
                  target_labels: frozenset[str]) -> list[str]:
    problems = []
    for where, expr in exprs:
        for ref in references(expr):
            series = catalog.get(ref.name)
            if series is None:
                continue
            unknown = set(ref.matchers) - series.labels - target_labels
            if unknown:
                problems.append(f"{where}: {ref.name} has no label(s) {sorted(unknown)}; "
                                f"it has {sorted(series.labels)}")
        for group in groupings(expr):
            known = [catalog[n] for n in group.names if n in catalog]
            if not known:
                continue
            available = set().union(*(s.labels for s in known)) | target_labels
            unknown = set(group.labels) - available
            if unknown:
                problems.append(f"{where}: grouping by {sorted(unknown)}, "
                                f"which none of {sorted(group.names)} has")
    return problems


def _alert_exprs(alert_rules: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(rule["alert"], rule["expr"]) for rule in alert_rules]


def test_scanner_finds_names_selectors_and_groupings(promql_references: Scan, promql_groupings: Scan) -> None:
    expr = ('histogram_quantile(0.95, sum by (le, stream) '
            '(rate(exmail_poll_seconds_bucket{corp=~"$corp"}[5m])))'
            ' / on (corp) group_left sum(exmail_records_produced_total)')
    assert [(r.name, r.matchers) for r in promql_references(expr)] == [
        ("exmail_poll_seconds_bucket", ("corp",)), ("exmail_records_produced_total", ())]
    assert [(g.labels, g.names) for g in promql_groupings(expr)] == [
        (("le", "stream"), frozenset({"exmail_poll_seconds_bucket"})),
        (("corp",), frozenset({"exmail_poll_seconds_bucket", "exmail_records_produced_total"})),
    ]


def test_checks_reject_wrong_names_and_labels(metric_catalog: Catalog, promql_references: Scan,
                                              promql_groupings: Scan, target_labels: frozenset[str]) -> None:
    bad = [("counter without _total", "rate(exmail_dlq_records[5m])"),
           ("histogram without suffix", "exmail_delivery_seconds"),
           ("label typo", 'exmail_deliveries_total{status="failed"}'),
           ("grouping typo", "sum by (streem) (exmail_records_produced_total)")]
    names = _check_names(bad, metric_catalog, promql_references)
    labels = _check_labels(bad, metric_catalog, promql_references, promql_groupings, target_labels)
    assert [p.split(":")[0] for p in names] == ["counter without _total", "histogram without suffix"]
    assert [p.split(":")[0] for p in labels] == ["label typo", "grouping typo"]


def test_dashboard_queries_only_defined_metrics(dashboard_exprs: list[tuple[str, str]],
                                                metric_catalog: Catalog, promql_references: Scan) -> None:
    assert _check_names(dashboard_exprs, metric_catalog, promql_references) == []


def test_alert_rules_query_only_defined_metrics(alert_rules: list[dict[str, Any]], metric_catalog: Catalog,
                                                promql_references: Scan) -> None:
    exprs = _alert_exprs(alert_rules)
    assert all(promql_references(expr) for _, expr in exprs if "exmail_" in expr)
    assert _check_names(exprs, metric_catalog, promql_references) == []


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_queries_use_existing_labels(source: str, dashboard_exprs: list[tuple[str, str]],
                                     alert_rules: list[dict[str, Any]], metric_catalog: Catalog,
                                     promql_references: Scan, promql_groupings: Scan,
                                     target_labels: frozenset[str]) -> None:
    exprs = dashboard_exprs if source == "dashboard" else _alert_exprs(alert_rules)
    assert _check_labels(exprs, metric_catalog, promql_references, promql_groupings, target_labels) == []


def test_every_metric_family_is_on_the_dashboard(
        dashboard_exprs: list[tuple[str, str]], metric_catalog: Catalog,
        promql_references: Scan) -> None:
    shown = {metric_catalog[ref.name].family for _, expr in dashboard_exprs for ref in promql_references(expr)
             if ref.name in metric_catalog}
    missing = sorted({s.family for s in metric_catalog.values()} - shown)
    assert missing == [], f"add panels for {missing} in ops/grafana/build_dashboard.py and re-run it"


def test_the_alerts_cover_the_issue_list(alert_rules: list[dict[str, Any]],
                                         promql_references: Scan) -> None:
    used = {rule["alert"]: {ref.name for ref in promql_references(rule["expr"])} for rule in alert_rules}
    assert "exmail_poll_last_success_timestamp_seconds" in used["PipelinePollerStalled"]
    assert "exmail_consumer_lag_records" in used["PipelineConsumerLagGrowing"]
    assert "exmail_consumer_stalled_partitions" in used["PipelineConsumerStalled"]
    assert "exmail_dlq_records_total" in used["PipelineDLQGrowing"]
    assert "exmail_deliveries_total" in used["PipelineDeliveryFailures"]
    assert "exmail_api_errors_total" in used["PipelineAPIErrors"]
    assert "exmail_callback_rejections_total" in used["PipelineCallbackRejections"]
    assert "exmail_sink_retries_total" in used["PipelineSinkRetrying"]


def test_docs_metrics_table_matches_the_registry(repo: Path, metrics_doc: ModuleType) -> None:
    document = (repo / "docs" / "operations.md").read_text(encoding="utf-8")
    assert metrics_doc.embed(document, metrics_doc.table()) == document, (
        "docs/operations.md lists other metrics than pipeline/metrics.py: run "
        "`.venv/bin/python ops/prometheus/metrics_doc.py --write`")
