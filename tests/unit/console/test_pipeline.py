"""The Pipeline page's join of the ingest's /healthz (by corp name) and /metrics (by corp_id)."""

from __future__ import annotations

from pipeline.console._pipeline import Throughput, ingest_streams

METRICS = """\
# HELP exmail_poll_last_success_timestamp_seconds unix time of the last successful poll
# TYPE exmail_poll_last_success_timestamp_seconds gauge
exmail_poll_last_success_timestamp_seconds{corp="ww1",stream="mail_log"} 1.8e+09
# HELP exmail_poll_lag_seconds now minus the end of the last fully delivered poll window
# TYPE exmail_poll_lag_seconds gauge
exmail_poll_lag_seconds{corp="ww1",stream="mail_log"} 42.5
# HELP exmail_source_errors_total poll/ingest errors
# TYPE exmail_source_errors_total counter
exmail_source_errors_total{corp="ww1",reason="api_45009",stream="mail_log"} 3.0
exmail_source_errors_created{corp="ww1",reason="api_45009",stream="mail_log"} 1.7e+09
exmail_source_errors_total{corp="hr",reason="bad_signature",stream="hr_lifecycle"} 1.0
"""


def test_health_and_metrics_join_per_stream() -> None:
    health = {"status": "ok", "sources": {
        "acme/mail_log": {"failures": 1, "window": ["2026-12-07T09:00:00+08:00", "2026-12-07T09:05:00+08:00"]},
        "acme/login_log": {"failures": 0, "window": None}}}
    streams = {s.name: s for s in ingest_streams(health, METRICS, {"ww1": "acme"})}
    assert set(streams) == {"acme/mail_log", "acme/login_log"}  # hr intake is not a poller
    mail = streams["acme/mail_log"]
    assert (mail.last_poll, mail.lag_seconds, mail.failures) == (1.8e9, 42.5, 1)
    assert mail.errors == {"api_45009": 3} and "09:00:00" in mail.cursor and "09:05:00" in mail.cursor
    login = streams["acme/login_log"]
    assert (login.last_poll, login.lag_seconds, login.cursor, login.errors) == (None, None, "", {})


def test_an_ingest_without_sources_shows_nothing() -> None:
    assert ingest_streams({"status": "stopping"}, "", {}) == []


def test_throughput_between_two_looks_at_least_min_seconds_apart() -> None:
    rate = Throughput(min_seconds=5)
    assert rate.update(100.0, {"normalize": {"ok": 10, "dead_lettered": 0}}) == {}
    assert rate.update(102.0, {"normalize": {"ok": 30}}) == {}  # too soon: no noisy rate
    assert rate.update(110.0, {"normalize": {"ok": 100, "dead_lettered": 10}, "rules": {"ok": 5}}) == {
        "normalize": 10.0, "rules": 0.5}


def test_lag_rows_for_faust_agents_and_batch_units() -> None:
    from pipeline.console._pipeline import lag_by_stage
    from pipeline.metrics import CONSUMER_LAG

    CONSUMER_LAG.labels("lagtest", "p.exmail.raw.mail_log").set(7)
    CONSUMER_LAG.labels("lagtest.audit", "p.exmail.events").set(3)
    CONSUMER_LAG.labels("lagtest.siem-feed", "p.exmail.events").set(0)
    CONSUMER_LAG.labels("lagtest-delivery", "p.exmail.notifications").set(4)
    CONSUMER_LAG.labels("other", "p.exmail.events").set(99)
    rows = {(r.topic, r.stages): r.lag for r in lag_by_stage(
        "lagtest", {"p.exmail.raw.mail_log": ["normalize"], "p.exmail.alerts": ["dispatch"]})}
    assert rows == {("p.exmail.raw.mail_log", ("normalize",)): 7, ("p.exmail.alerts", ("dispatch",)): None,
                    ("p.exmail.events", ("audit",)): 3, ("p.exmail.events", ("siem-feed",)): 0,
                    ("p.exmail.notifications", ("delivery",)): 4}
