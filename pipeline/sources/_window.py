"""Which log dates a poll run queries, and when a date may be closed.

Exmail log queries take whole dates in the corp's timezone (Beijing for real corps). A date stays open (is
re-queried every run) until `lag` has passed after its end, because records keep arriving late; it is closed
only by a run that started after that moment and delivered every record of it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone


class CorpCalendar:
    """Date arithmetic in one corp's timezone (UTC offset in minutes, e.g. 480 for Beijing)."""

    __slots__ = ("offset_minutes", "tz")

    def __init__(self, offset_minutes: int = 480) -> None:
        self.offset_minutes = offset_minutes
        self.tz = timezone(timedelta(minutes=offset_minutes))

    def date_of(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self.tz).date()

    def start_of(self, day: date) -> float:
        """Unix time of local midnight at the start of `day`."""
        return datetime(day.year, day.month, day.day, tzinfo=self.tz).timestamp()

    def end_of(self, day: date) -> float:
        return self.start_of(day + timedelta(days=1))

    def closable(self, day: date, now: float, lag_seconds: float) -> bool:
        """True once no record of `day` is expected any more: its end plus the lag is in the past."""
        return now >= self.end_of(day) + lag_seconds

    def last_closable(self, first: date, last: date, now: float, lag_seconds: float) -> date | None:
        """The latest date d in first..last such that every date first..d is closable, or None."""
        closed: date | None = None
        day = first
        while day <= last and self.closable(day, now, lag_seconds):
            closed = day
            day += timedelta(days=1)
        return closed


def query_range(closed_through: date | None, today: date, backfill_days: int) -> tuple[date, date] | None:
    """Dates a run queries: everything after the cursor up to today; on first start `backfill_days` back."""
    first = closed_through + timedelta(days=1) if closed_through else today - timedelta(days=backfill_days)
    return (first, today) if first <= today else None


def utc_now() -> float:
    return datetime.now(UTC).timestamp()
