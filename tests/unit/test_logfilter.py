"""Connection-error lines: the first passes, repeats are held back, a summary line every interval, and a new
burst after a quiet spell passes at once."""

from __future__ import annotations

import logging

from pipeline.logfilter import ConnectionLogLimiter


def record(msg: str, *args: object, name: str = "aiokafka.client", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_burst_is_one_line_then_a_summary_per_interval() -> None:
    now = [0.0]
    limiter = ConnectionLogLimiter(summary_seconds=60, quiet_seconds=30, clock=lambda: now[0])
    passed = []
    for i in range(3500):  # 100 a second for 35 s
        now[0] = i * 0.01
        r = record("Unable connect to node with id %s: %s", 1, "refused")
        if limiter.filter(r):
            passed.append(r.getMessage())
    assert passed == ["Unable connect to node with id 1: refused"]
    now[0] = 61.0
    r = record("Unable connect to node with id %s: %s", 1, "refused")
    assert limiter.filter(r) and "3499 similar lines held back" in r.getMessage()


def test_kinds_are_limited_separately_and_info_is_untouched() -> None:
    now = [0.0]
    limiter = ConnectionLogLimiter(clock=lambda: now[0])
    assert limiter.filter(record("%s [%s] %s", "FAIL", "rdkafka#producer-1", "Connect failed", name="librdkafka"))
    assert limiter.filter(record("%s [%s] %s", "ERROR", "rdkafka#producer-1", "1/1 brokers down", name="librdkafka"))
    assert not limiter.filter(record("%s [%s] %s", "FAIL", "rdkafka#producer-2", "again", name="librdkafka"))
    assert limiter.filter(record("Joined group %s", "g", level=logging.INFO))
    assert limiter.filter(record("Joined group %s", "g", level=logging.INFO))


def test_a_new_burst_after_a_quiet_spell_passes_with_the_count_held_before() -> None:
    now = [0.0]
    limiter = ConnectionLogLimiter(summary_seconds=60, quiet_seconds=30, clock=lambda: now[0])
    assert limiter.filter(record("Failed fetch messages from %s: %s", 1, "x"))
    now[0] = 1.0
    assert not limiter.filter(record("Failed fetch messages from %s: %s", 1, "x"))
    now[0] = 100.0  # the broker was back; it failed again
    r = record("Failed fetch messages from %s: %s", 1, "x")
    assert limiter.filter(r) and "1 similar lines were held back" in r.getMessage()


def test_an_annotated_line_still_formats_after_a_formatter_touches_its_args() -> None:
    now = [0.0]
    limiter = ConnectionLogLimiter(summary_seconds=1, quiet_seconds=30, clock=lambda: now[0])
    limiter.filter(record("Failed fetch messages from %s: %s", 1, "100% gone"))
    limiter.filter(record("Failed fetch messages from %s: %s", 1, "100% gone"))
    now[0] = 2.0
    r = record("Failed fetch messages from %s: %s", 1, "100% gone")
    assert limiter.filter(r)
    r.args = tuple(r.args or ())  # what mode's ExtensionFormatter does to args
    assert r.getMessage().startswith("Failed fetch messages from 1: 100% gone (still failing: 1 similar")
