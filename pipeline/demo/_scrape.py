"""Scraping the children's /metrics (Prometheus text) and remembering which families ever had non-zero values.

A family's value is the sum over its series of: the `_total` sample (counters), the value (gauges), the
`_count` sample (histograms: observations). Series are kept with their labels for the live view.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]

# what the issue asks to see non-zero during a demo: label -> (process, family as exposed)
REQUIRED_METRICS: dict[str, tuple[str, str]] = {
    "poll latency per stream": ("ingest", "exmail_poll_seconds"),
    "poll lag per stream": ("ingest", "exmail_poll_lag_seconds"),
    "records produced": ("ingest", "exmail_records_produced_total"),
    "dedup hits": ("ingest", "exmail_dedup_hits_total"),
    "API errors by errcode": ("ingest", "exmail_api_errors_total"),
    "callback rejections by reason": ("ingest", "exmail_callback_rejections_total"),
    "Exmail client token-bucket waits": ("ingest", "exmail_rate_limit_wait_seconds"),
    "transform throughput": ("worker", "exmail_transform_records_total"),
    "alerts by rule": ("worker", "exmail_alerts_total"),
    "deliveries by receiver and outcome": ("worker", "exmail_deliveries_total"),
    "delivery latency histogram": ("worker", "exmail_delivery_seconds"),
    "delivery token-bucket waits": ("worker", "exmail_token_bucket_wait_seconds"),
    "DLQ records": ("worker", "exmail_dlq_records_total"),
    "sink batch sizes": ("worker", "exmail_sink_batch_records"),
    "sink batch latency": ("worker", "exmail_sink_batch_seconds"),
}

# families whose series are kept one by one in summary.json (labels without corp)
DETAILED = frozenset({
    "exmail_poll_seconds", "exmail_poll_lag_seconds", "exmail_records_produced_total", "exmail_dedup_hits_total",
    "exmail_api_errors_total", "exmail_callback_rejections_total", "exmail_alerts_total", "exmail_deliveries_total",
    "exmail_delivery_seconds", "exmail_token_bucket_wait_seconds", "exmail_dlq_records_total",
    "exmail_sink_batch_records", "exmail_sink_batch_seconds", "exmail_transform_records_total",
    "exmail_consumer_lag_records", "exmail_delivery_retries_total",
})


@dataclass
class Family:
    name: str
    kind: str
    series: dict[Labels, float] = field(default_factory=dict)
    sums: dict[Labels, float] = field(default_factory=dict)  # histograms: seconds/records observed

    @property
    def total(self) -> float:
        return sum(self.series.values())

    def by(self, *labels: str) -> dict[tuple[str, ...], float]:
        out: dict[tuple[str, ...], float] = {}
        for key, value in self.series.items():
            d = dict(key)
            k = tuple(d.get(label, "") for label in labels)
            out[k] = out.get(k, 0.0) + value
        return out


Scrape = dict[str, Family]


def parse_metrics(text: str) -> Scrape:
    out: Scrape = {}
    for fam in text_string_to_metric_families(text):
        if not fam.name.startswith("exmail_") or fam.name.endswith("_created"):
            continue
        name = fam.name + "_total" if fam.type == "counter" else fam.name
        family = out[name] = Family(name, fam.type)
        for sample in fam.samples:
            key: Labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k not in ("le", "quantile")))
            counted = {"counter": "_total", "histogram": "_count", "summary": "_count"}.get(fam.type)
            if fam.type == "gauge" or (counted and sample.name.endswith(counted)):
                family.series[key] = sample.value
            elif fam.type in ("histogram", "summary") and sample.name.endswith("_sum"):
                family.sums[key] = sample.value
    return out


def scrape(client: httpx.Client, url: str) -> Scrape | None:
    try:
        response = client.get(url, timeout=3.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    return parse_metrics(response.text)


@dataclass
class MetricsSeen:
    """Per process and family: the largest value of any scrape, series count, and (histograms) the sum."""

    best: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    scrapes: dict[str, int] = field(default_factory=dict)

    def add(self, process: str, data: Scrape) -> None:
        self.scrapes[process] = self.scrapes.get(process, 0) + 1
        seen = self.best.setdefault(process, {})
        for name, fam in data.items():
            entry = seen.setdefault(name, {"type": fam.kind, "max": 0.0, "series": 0})
            entry["max"] = max(entry["max"], fam.total)
            entry["series"] = max(entry["series"], len(fam.series))
            if fam.sums:
                entry["sum_max"] = max(entry.get("sum_max", 0.0), sum(fam.sums.values()))
            if name in DETAILED:
                detail = entry.setdefault("by_series", {})
                for key, value in fam.series.items():
                    label = ",".join(f"{k}={v}" for k, v in key if k != "corp") or "-"
                    detail[label] = max(detail.get(label, 0.0), value)

    def required(self) -> dict[str, dict[str, Any]]:
        out = {}
        for label, (process, family) in REQUIRED_METRICS.items():
            entry = self.best.get(process, {}).get(family)
            value = float(entry["max"]) if entry else 0.0
            series = dict(entry.get("by_series", {})) if entry else {}
            top = sorted(series.items(), key=lambda kv: -kv[1])[:4]
            out[label] = {"process": process, "family": family, "max": value, "ok": value > 0,
                          "top_series": {k: v for k, v in top}}
        return out
