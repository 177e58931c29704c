"""Writes ops/grafana/dashboards/exmail-pipeline.json, the Grafana dashboard of the pipeline's own metrics.

The JSON is generated so every panel has the same datasource, legend and layout conventions; edit the
panel table here and run `.venv/bin/python ops/grafana/build_dashboard.py`. tests/unit/ops checks that the
committed JSON is this script's output and that every metric of pipeline/metrics.py is on the dashboard.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

OUTPUT = Path(__file__).resolve().parent / "dashboards" / "exmail-pipeline.json"
UID = "exmail-pipeline"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
RATE = "$__rate_interval"

CORP = 'corp=~"$corp"'
STREAM = 'corp=~"$corp",stream=~"$stream"'
RECEIVER = 'receiver=~"$receiver"'
SINK = 'sink=~"$sink"'


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"
    width: int = 8
    height: int = 8
    stack: bool = False
    thresholds: tuple[tuple[float, str], ...] = ()


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


def p95(metric: str, by: str, selector: str = "") -> Query:
    return q(f"histogram_quantile(0.95, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
             f"p95 {{{{{by}}}}}")


def p50(metric: str, by: str, selector: str = "") -> Query:
    return q(f"histogram_quantile(0.5, sum by (le, {by}) (rate({metric}_bucket{{{selector}}}[{RATE}])))",
             f"p50 {{{{{by}}}}}")


ROWS: tuple[Row, ...] = (
    Row("Overview", (
        Panel("Processes up", "1 = Prometheus scrapes the process's /metrics.",
              (q('up{job=~"exmail-.*"}', "{{job}}"),), kind="stat", width=4, height=5,
              thresholds=((0, "red"), (1, "green"))),
        Panel("Records produced /s", "All sources, all corps selected.",
              (q(f"sum(rate(exmail_records_produced_total{{{CORP}}}[{RATE}]))", "records/s"),),
              unit="ops", kind="stat", width=4, height=5),
        Panel("Max consumer lag", "Largest lag of any consumer group on any topic.",
              (q("max(exmail_consumer_lag_records)", "records"),), kind="stat", width=4, height=5,
              thresholds=((0, "green"), (1000, "orange"), (10000, "red"))),
        Panel("Dead letters (1h)", "Records sent to the DLQ topic in the last hour; see `pipeline replay`.",
              (q("sum(increase(exmail_dlq_records_total[1h]))", "records"),), kind="stat", width=4, height=5,
              thresholds=((0, "green"), (1, "red"))),
        Panel("Alerts raised (1h)", "Exmail alerts raised by the rules in the last hour.",
              (q("sum(increase(exmail_alerts_total[1h]))", "alerts"),), kind="stat", width=4, height=5),
        Panel("Undelivered notifications (1h)", "Notifications that ended failed or dead-lettered.",
              (q(f'sum(increase(exmail_deliveries_total{{outcome!="delivered",{RECEIVER}}}[1h]))',
                 "notifications"),),
              kind="stat", width=4, height=5, thresholds=((0, "green"), (1, "red"))),
    )),
    Row("Sources", (
        Panel("Records produced", "Records delivered to Kafka (delivery report received), per stream.",
              (q(f"sum by (corp, stream) (rate(exmail_records_produced_total{{{STREAM}}}[{RATE}]))",
                 "{{corp}}/{{stream}}"),), unit="ops", stack=True),
        Panel("Time since last successful poll", "PipelinePollerStalled fires past per-stream thresholds.",
              (q(f"time() - exmail_poll_last_success_timestamp_seconds{{{STREAM}}}", "{{corp}}/{{stream}}"),),
              unit="s"),
        Panel("Poll window lag", "Now minus the end of the last fully delivered poll window.",
              (q(f"exmail_poll_lag_seconds{{{STREAM}}}", "{{corp}}/{{stream}}"),), unit="s"),
        Panel("Poll duration", "Duration of one poll run (all API calls of the window).",
              (p50("exmail_poll_seconds", "stream", STREAM), p95("exmail_poll_seconds", "stream", STREAM)),
              unit="s"),
        Panel("Dedup hits", "Records skipped because their fingerprint was already emitted (re-polls).",
              (q(f"sum by (stream) (rate(exmail_dedup_hits_total{{{STREAM}}}[{RATE}]))", "{{stream}}"),),
              unit="ops"),
        Panel("Dedup state", "Fingerprints held for the open windows.",
              (q(f"sum by (stream) (exmail_dedup_state_entries{{{STREAM}}})", "{{stream}}"),)),
        Panel("Source errors", "Poll and ingest errors by reason.",
              (q(f"sum by (stream, reason) (rate(exmail_source_errors_total{{{STREAM}}}[{RATE}]))",
                 "{{stream}} {{reason}}"),), unit="ops"),
        Panel("Callback pushes", "New-mail callback pushes by message type and outcome.",
              (q(f"sum by (msg_type, outcome) (rate(exmail_callback_requests_total{{{CORP}}}[{RATE}]))",
                 "{{msg_type}} {{outcome}}"),), unit="reqps"),
        Panel("Callback rejections", "Pushes refused before Kafka: signature, timestamp, corp id, size.",
              (q(f"sum by (reason) (rate(exmail_callback_rejections_total[{RATE}]))", "{{reason}}"),),
              unit="reqps"),
    )),
    Row("Exmail API client", (
        Panel("API requests", "Exmail API calls by endpoint and outcome.",
              (q(f"sum by (endpoint, outcome) (rate(exmail_api_requests_total{{{CORP}}}[{RATE}]))",
                 "{{endpoint}} {{outcome}}"),), unit="reqps"),
        Panel("API errors by errcode", "45009 = rate limit, -1 = system busy, 40014/42001 = token expired.",
              (q(f"sum by (errcode) (rate(exmail_api_errors_total{{{CORP}}}[{RATE}]))", "{{errcode}}"),),
              unit="reqps"),
        Panel("API latency", "Per call, by endpoint.",
              (p95("exmail_api_request_seconds", "endpoint", CORP),), unit="s"),
        Panel("API retries", "Retries by reason (transient errcodes, HTTP 5xx, timeouts, token refresh).",
              (q(f"sum by (reason) (rate(exmail_api_retries_total{{{CORP}}}[{RATE}]))", "{{reason}}"),),
              unit="ops"),
        Panel("Token refreshes", "access_token fetches per Exmail app.",
              (q(f"sum by (app) (increase(exmail_token_refreshes_total{{{CORP}}}[{RATE}]))", "{{app}}"),)),
        Panel("Client rate-limit wait", "Time calls waited on the client's own token buckets.",
              (p95("exmail_rate_limit_wait_seconds", "bucket", CORP),), unit="s"),
    )),
    Row("Transforms", (
        Panel("Transform throughput", "Records processed per transform and outcome.",
              (q(f"sum by (transform, outcome) (rate(exmail_transform_records_total[{RATE}]))",
                 "{{transform}} {{outcome}}"),), unit="ops", stack=True),
        Panel("Transform latency", "Per-record processing time.",
              (p50("exmail_transform_seconds", "transform"), p95("exmail_transform_seconds", "transform")),
              unit="s"),
        Panel("Consumer lag", "High watermark minus committed offset, per group and topic.",
              (q("max by (group, topic) (exmail_consumer_lag_records)", "{{group}} {{topic}}"),)),
        Panel("Stalled partitions", "Owned partitions with lag and no committed progress for the stall window "
              "(worker.stall_seconds); /healthz is 503 while any is stalled.",
              (q("sum by (group) (exmail_consumer_stalled_partitions)", "{{group}} now"),
               q(f"sum by (group, topic) (increase(exmail_consumer_stalls_total[{RATE}]))",
                 "{{group}} {{topic}} new stalls")),
              thresholds=((0, "green"), (1, "red"))),
        Panel("Rebalances, agent crashes, blocked loop", "Partition assignments/revocations, agents restarted "
              "after raising, and event loops that stopped turning (the watchdog thread's count).",
              (q(f"sum by (group, event) (increase(exmail_consumer_rebalances_total[{RATE}]))",
                 "{{group}} {{event}}"),
               q(f"sum by (agent) (increase(exmail_agent_crashes_total[{RATE}]))", "crash {{agent}}"),
               q(f"sum by (instance) (increase(exmail_event_loop_blocks_total[{RATE}]))",
                 "event loop blocked {{instance}}"))),
        Panel("Dead letters", "Records dead-lettered, by stage and error type.",
              (q(f"sum by (stage, error_type) (increase(exmail_dlq_records_total[{RATE}]))",
                 "{{stage}} {{error_type}}"),), stack=True),
        Panel("Automated actions", "HR lifecycle and security responses, by action and outcome.",
              (q(f"sum by (action, outcome) (increase(exmail_actions_total[{RATE}]))",
                 "{{action}} {{outcome}}"),),
              stack=True),
        Panel("SSO gateway logins", "Employees' logins into mailboxes, by method and outcome (refusal reason).",
              (q(f"sum by (method, outcome, reason) (increase(exmail_sso_gateway_logins_total[{RATE}]))",
                 "{{method}} {{outcome}} {{reason}}"),),
              stack=True),
    )),
    Row("Alerting and delivery", (
        Panel("Alerts by rule", "Alerts raised by each rule.",
              (q(f"sum by (rule, severity) (increase(exmail_alerts_total[{RATE}]))",
                 "{{rule}} ({{severity}})"),),
              stack=True),
        Panel("Notifications", "Notifications emitted by receiver and reason (new group, update, repeat).",
              (q(f"sum by (receiver, reason) (increase(exmail_notifications_total{{{RECEIVER}}}[{RATE}]))",
                 "{{receiver}} {{reason}}"),), stack=True),
        Panel("Alerts muted", "Alerts suppressed by inhibition, silences or deduplication.",
              (q(f"sum by (reason) (increase(exmail_alerts_suppressed_total[{RATE}]))", "{{reason}}"),),
              stack=True),
        Panel("Deliveries", "Outcome of every notification: delivered, failed, dead_lettered.",
              (q(f"sum by (receiver, outcome) (increase(exmail_deliveries_total{{{RECEIVER}}}[{RATE}]))",
                 "{{receiver}} {{outcome}}"),), stack=True),
        Panel("Delivery latency", "From first attempt to outcome, all attempts and parts included.",
              (p50("exmail_delivery_seconds", "receiver", RECEIVER),
               p95("exmail_delivery_seconds", "receiver", RECEIVER)),
              unit="s"),
        Panel("Token-bucket wait", "Time a send waited for its destination's limit (WeCom robot 20/min...).",
              (p95("exmail_token_bucket_wait_seconds", "receiver", RECEIVER),), unit="s"),
        Panel("Delivery retries", "Retries by receiver and reason (5xx, timeouts, -1, 45009, token refresh).",
              (q(f"sum by (receiver, reason) (rate(exmail_delivery_retries_total{{{RECEIVER}}}[{RATE}]))",
                 "{{receiver}} {{reason}}"),), unit="ops"),
        Panel("Delivery backlog", "Notifications taken for a receiver and not yet finished, and the oldest one's "
              "age (DeliveryBacklog fires past alerting.backlog_alert_seconds).",
              (q(f"max by (receiver) (exmail_delivery_backlog_notifications{{{RECEIVER}}})", "{{receiver}} waiting"),
               q(f"max by (receiver) (exmail_delivery_backlog_oldest_seconds{{{RECEIVER}}})",
                 "{{receiver}} oldest (s)"))),
        Panel("Coalesced and resumed", "Queued notifications replaced by their group's newer state (saturated "
              "receiver), and notifications continued at their next part after a restart.",
              (q(f"sum by (receiver) (increase(exmail_delivery_coalesced_total{{{RECEIVER}}}[{RATE}]))",
                 "{{receiver}} coalesced"),
               q(f"sum by (receiver) (increase(exmail_delivery_resumed_total{{{RECEIVER}}}[{RATE}]))",
                 "{{receiver}} resumed")), stack=True),
        Panel("Delivery failures by reason", "The last error of each failed or dead-lettered notification.",
              (q(f"sum by (receiver, outcome, reason) (increase(exmail_delivery_failures_total{{{RECEIVER}}}"
                 f"[{RATE}]))", "{{receiver}} {{outcome}} {{reason}}"),), stack=True),
    )),
    Row("Sinks", (
        Panel("Sink records", "Records made durable per sink: written, duplicate (already stored), rejected.",
              (q(f"sum by (sink, outcome) (rate(exmail_sink_records_total{{{SINK}}}[{RATE}]))",
                 "{{sink}} {{outcome}}"),), unit="ops", stack=True),
        Panel("Batch size", "Records per batch: mean and p95.",
              (q(f"sum by (sink) (rate(exmail_sink_batch_records_sum{{{SINK}}}[{RATE}])) / "
                 f"sum by (sink) (rate(exmail_sink_batch_records_count{{{SINK}}}[{RATE}]))", "mean {{sink}}"),
               p95("exmail_sink_batch_records", "sink", SINK))),
        Panel("Batch latency", "Time to make one batch durable.",
              (p50("exmail_sink_batch_seconds", "sink", SINK),
               p95("exmail_sink_batch_seconds", "sink", SINK)),
              unit="s"),
        Panel("Sink retries", "Batch retries by reason.",
              (q(f"sum by (sink, reason) (rate(exmail_sink_retries_total{{{SINK}}}[{RATE}]))",
                 "{{sink}} {{reason}}"),), unit="ops"),
        Panel("Sink queue", "Records held by a sink: queued and in flight, not yet acknowledged.",
              (q(f"sum by (sink) (exmail_sink_queue_records{{{SINK}}})", "{{sink}}"),)),
    )),
    Row("Custom clients (SSE)", (
        Panel("SSE clients", "Server-Sent Events streams open on the worker.",
              (q("sum(exmail_sse_clients)", "clients"),)),
        Panel("SSE events", "Records sent to SSE clients, by stream kind.",
              (q(f"sum by (stream) (rate(exmail_sse_events_total[{RATE}]))", "{{stream}}"),), unit="ops"),
        Panel("SSE clients dropped", "Streams the server ended: overflow (slow client), kafka_error, shutdown.",
              (q(f"sum by (reason) (increase(exmail_sse_dropped_clients_total[{RATE}]))", "{{reason}}"),),
              stack=True),
    )),
    Row("Operator surfaces (auth, SSO links)", (
        Panel("Refused HTTP requests", "Authentication/authorization refusals by process and reason (missing, "
              "invalid, forbidden, rate_limited, undeclared). A rise of invalid/rate_limited is token guessing.",
              (q(f"sum by (process, reason) (increase(exmail_auth_failures_total[{RATE}]))",
                 "{{process}} {{reason}}"),), stack=True),
        Panel("SSO link clicks", "preview = confirmation page shown (chat previews too); redirected = a person's "
              "click; replayed/expired/bad_signature = refused.",
              (q(f"sum by (outcome) (increase(exmail_sso_links_total[{RATE}]))", "{{outcome}}"),), stack=True),
    )),
)


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "definition": query, "query": {"query": query, "refId": f"{name}-values"},
        "refresh": 2, "sort": 1, "multi": True, "includeAll": True, "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [], "regex": "", "hide": 0,
    }


def _templating() -> list[dict[str, Any]]:
    return [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "includeAll": False, "multi": False,
         "options": []},
        _variable("corp", "Corp", "label_values(exmail_api_requests_total, corp)"),
        _variable("stream", "Stream", 'label_values(exmail_poll_seconds_count{corp=~"$corp"}, stream)'),
        _variable("receiver", "Receiver", "label_values(exmail_deliveries_total, receiver)"),
        _variable("sink", "Sink", "label_values(exmail_sink_records_total, sink)"),
    ]


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = [{"datasource": DATASOURCE, "expr": query.expr, "legendFormat": query.legend or "__auto",
                "refId": chr(ord("A") + i), "range": True} for i, query in enumerate(panel.queries)]
    steps = [{"color": color, "value": None if i == 0 else value}
             for i, (value, color) in enumerate(panel.thresholds or ((0, "green"),))]
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": {"mode": "absolute", "steps": steps}}
    options: dict[str, Any]
    if panel.kind == "stat":
        defaults["color"] = {"mode": "thresholds"}
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "colorMode": "value", "graphMode": "area", "justifyMode": "auto", "textMode": "auto"}
    else:
        defaults["color"] = {"mode": "palette-classic"}
        defaults["custom"] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                              "spanNulls": False, "stacking": {"mode": "normal" if panel.stack else "none",
                                                               "group": "A"}}
        options = {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True,
                              "calcs": ["mean", "max"]},
                   "tooltip": {"mode": "multi", "sort": "desc"}}
    return {"id": panel_id, "type": panel.kind, "title": panel.title, "description": panel.description,
            "datasource": DATASOURCE, "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults, "overrides": []}, "options": options, "targets": targets}


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict (Grafana 11 schema)."""
    panels: list[dict[str, Any]] = []
    panel_id = 0
    y = 0
    for row in ROWS:
        panel_id += 1
        panels.append({"id": panel_id, "type": "row", "title": row.title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        y += 1
        x = 0
        row_height = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panel_id += 1
            panels.append(_panel_json(panel, panel_id, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return {
        "uid": UID, "title": "Exmail pipeline",
        "description": "Sources, transforms, alerting and delivery, sinks and the Exmail API client of the "
        "Exmail event pipeline (metrics of pipeline/metrics.py).",
        "tags": ["exmail", "pipeline"], "timezone": "", "editable": True, "graphTooltip": 1,
        "schemaVersion": 39, "version": 1, "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [], "templating": {"list": _templating()}, "panels": panels,
    }


def render() -> str:
    return orjson.dumps(build(), option=orjson.OPT_INDENT_2).decode() + "\n"


def main() -> int:
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
