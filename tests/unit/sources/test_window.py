"""The corp calendar and query windows: the corp's timezone, yesterday held open for late records, query
ranges and spans."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.exmail import each_date, split_span
from pipeline.sources._window import CorpCalendar, query_range

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
