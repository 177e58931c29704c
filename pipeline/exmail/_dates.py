"""Date handling of log queries: parsing, per-date iteration, and splitting long ranges into API-sized chunks."""

from __future__ import annotations

from datetime import date, timedelta

DateLike = date | str


def as_date(value: DateLike, name: str) -> date:
    """A date from a date or a 'YYYY-MM-DD' string; anything else is a ValueError naming the argument."""
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{name} must be a date or 'YYYY-MM-DD', got {value!r}") from None
    raise ValueError(f"{name} must be a date or 'YYYY-MM-DD', got {type(value).__name__}")


def date_range(begin: DateLike, end: DateLike) -> tuple[date, date]:
    first, last = as_date(begin, "begin_date"), as_date(end, "end_date")
    if last < first:
        raise ValueError(f"end_date {last.isoformat()} is before begin_date {first.isoformat()}")
    return first, last


def each_date(begin: date, end: date) -> list[date]:
    """Every date begin..end, inclusive, in order (empty when end is before begin)."""
    return [begin + timedelta(days=i) for i in range((end - begin).days + 1)]


def split_span(begin: date, end: date, max_days: int) -> list[tuple[date, date]]:
    """Consecutive inclusive chunks of at most `max_days` dates covering begin..end, in order: a log query
    longer than the API allows, split (the client's `*_logs_span` and the sources' pollers)."""
    if max_days < 1:
        raise ValueError("max_days must be >= 1")
    chunks = []
    start = begin
    while start <= end:
        stop = min(end, start + timedelta(days=max_days - 1))
        chunks.append((start, stop))
        start = stop + timedelta(days=1)
    return chunks
