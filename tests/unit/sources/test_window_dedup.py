"""Open dates, lag and closing; the packed digest set and its per-date seen-set."""

from __future__ import annotations

import os
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.envelope import fingerprint
from pipeline.exmail import each_date, split_span
from pipeline.sources._window import CorpCalendar, query_range
from pipeline.sources.cursor import StreamCursor
from pipeline.sources.dedup import DigestSet, SeenSet, digest_of

D = date.fromisoformat


def test_calendar_uses_the_corp_timezone(local: Any) -> None:
    cal = CorpCalendar(480)
    assert cal.date_of(local("2026-03-10", 0, 0, 1)) == D("2026-03-10")
    assert cal.date_of(local("2026-03-10", 0) - 1) == D("2026-03-09")  # 23:59:59 Beijing = 15:59:59 UTC
    assert cal.end_of(D("2026-03-09")) == local("2026-03-10", 0)


def test_yesterday_stays_open_until_the_lag_passed(local: Any) -> None:
    cal = CorpCalendar(480)
    lag = 6 * 3600
    assert not cal.closable(D("2026-03-09"), local("2026-03-10", 5, 59, 59), lag)
    assert cal.closable(D("2026-03-09"), local("2026-03-10", 6), lag)
    assert not cal.closable(D("2026-03-10"), local("2026-03-10", 23), lag)
    assert cal.last_closable(D("2026-03-07"), D("2026-03-10"), local("2026-03-10", 7), lag) == D("2026-03-09")
    assert cal.last_closable(D("2026-03-09"), D("2026-03-10"), local("2026-03-10", 1), lag) is None
    assert cal.closable(D("2026-03-08"), local("2026-03-10", 6), 30 * 3600)
    assert not cal.closable(D("2026-03-09"), local("2026-03-10", 6), 30 * 3600)  # a lag over a day keeps two dates open


def test_query_range() -> None:
    today = D("2026-03-10")
    assert query_range(None, today, 7) == (D("2026-03-03"), today)
    assert query_range(D("2026-03-09"), today, 7) == (today, today)
    assert query_range(D("2026-03-05"), today, 0) == (D("2026-03-06"), today)
    assert query_range(today, today, 7) is None


@given(st.integers(0, 400), st.integers(1, 92))
def test_split_span_covers_in_order(days: int, span: int) -> None:
    first = D("2025-01-01")
    last = first.fromordinal(first.toordinal() + days)
    chunks = split_span(first, last, span)
    covered = [d for a, b in chunks for d in each_date(a, b)]
    assert covered == each_date(first, last)
    assert all((b - a).days + 1 <= span for a, b in chunks)


def test_split_span_rejects_zero() -> None:
    with pytest.raises(ValueError):
        split_span(D("2026-01-01"), D("2026-01-02"), 0)


def test_digest_set_membership_across_compactions() -> None:
    digests = [os.urandom(16) for _ in range(5000)]
    s = DigestSet()
    for d in digests:
        assert s.add(d)
    assert all(not s.add(d) for d in digests[:100])
    assert len(s) == 5000
    assert all(d in s for d in digests)
    assert os.urandom(16) not in s
    assert b"short" not in s
    s.compact()
    assert sorted(s) == sorted(digests)
    assert s.nbytes() < 5000 * 20  # packed: ~16 bytes per digest


def test_digest_of_requires_a_fingerprint() -> None:
    assert digest_of(fingerprint("x")) == bytes.fromhex(fingerprint("x"))
    with pytest.raises(ValueError):
        digest_of("abcd")


def test_seen_set_per_date() -> None:
    seen = SeenSet()
    a, b = digest_of(fingerprint(1)), digest_of(fingerprint(2))
    assert seen.add(D("2026-03-09"), a)
    assert not seen.add(D("2026-03-10"), a)  # known under another date counts as seen
    assert seen.add(D("2026-03-10"), b)
    assert seen.dates() == [D("2026-03-09"), D("2026-03-10")]
    assert seen.drop_through(D("2026-03-09")) == 1
    assert a not in seen and b in seen and len(seen) == 1


def test_cursor_marks_and_scan_start() -> None:
    cur = StreamCursor(stream="c/mail_log")
    assert cur.scan_start() is None
    cur.mark_missing([D("2026-03-09"), D("2026-03-10")], {0: 5, 1: 7})
    cur.mark_missing([D("2026-03-10"), D("2026-03-11")], {0: 9, 1: 3})
    assert cur.marks[D("2026-03-10")] == {0: 5, 1: 7}  # an existing mark is never moved
    assert cur.scan_start() == {0: 5, 1: 3}
    cur.close_through(D("2026-03-10"))
    assert list(cur.marks) == [D("2026-03-11")]
    assert not cur.mark_missing([D("2026-03-10")], {0: 1})  # closed dates get no mark
    back = StreamCursor.model_validate(cur.to_json())
    assert back.closed_through == D("2026-03-10") and back.marks == {D("2026-03-11"): {0: 9, 1: 3}}
