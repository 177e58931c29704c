"""Named time intervals for `mute_time_intervals` / `active_time_intervals` (Alertmanager `<time_interval>`).

Within a spec every given field must match (an absent field matches anything; within a field's list one
entry is enough); a named interval is active when any of its specs matches. Times are [start, end) in minutes,
weekday/day/month/year ranges are inclusive, negative days count from the month's end and are clamped to it.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = {name: i for i, name in enumerate(
    ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"])}
MONTHS = {name: i + 1 for i, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"])}
_TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, slots=True)
class IntervalSpec:
    times: tuple[tuple[int, int], ...] = ()
    weekdays: tuple[tuple[int, int], ...] = ()
    days_of_month: tuple[tuple[int, int], ...] = ()
    months: tuple[tuple[int, int], ...] = ()
    years: tuple[tuple[int, int], ...] = ()
    location: tzinfo = UTC

    def contains(self, ts: float) -> bool:
        t = datetime.fromtimestamp(ts, self.location)
        if self.times:
            minute = t.hour * 60 + t.minute
            if not any(start <= minute < end for start, end in self.times):
                return False
        if self.weekdays:
            wd = (t.weekday() + 1) % 7  # Python Monday=0 -> Sunday=0
            if not any(a <= wd <= b for a, b in self.weekdays):
                return False
        if self.days_of_month and not self._day_matches(t):
            return False
        if self.months and not any(a <= t.month <= b for a, b in self.months):
            return False
        return not self.years or any(a <= t.year <= b for a, b in self.years)

    def _day_matches(self, t: datetime) -> bool:
        days = calendar.monthrange(t.year, t.month)[1]
        for begin, end in self.days_of_month:
            b = days + begin + 1 if begin < 0 else begin
            e = days + end + 1 if end < 0 else end
            if b > days:
                continue
            b, e = max(b, 1), min(e, days)
            if b <= t.day <= e:
                return True
        return False


def is_active(specs: tuple[IntervalSpec, ...], ts: float) -> bool:
    return any(spec.contains(ts) for spec in specs)


def parse_times(items: list[dict[str, str]]) -> tuple[tuple[int, int], ...]:
    out = []
    for item in items:
        start, end = _minutes(item.get("start_time", "")), _minutes(item.get("end_time", ""))
        if start >= end:
            raise ValueError(f"start_time {item.get('start_time')!r} must be before end_time {item.get('end_time')!r}")
        out.append((start, end))
    return tuple(out)


def parse_weekdays(items: list[str]) -> tuple[tuple[int, int], ...]:
    return tuple(_range(item, "weekday", lambda s: _named(s, WEEKDAYS, "weekday")) for item in items)


def parse_months(items: list[str | int]) -> tuple[tuple[int, int], ...]:
    def one(s: str) -> int:
        n = int(s) if s.lstrip("-").isdigit() else _named(s, MONTHS, "month")
        if not 1 <= n <= 12:
            raise ValueError(f"month {s!r} is not 1..12")
        return n
    return tuple(_range(str(item), "month", one) for item in items)


def parse_days_of_month(items: list[str | int]) -> tuple[tuple[int, int], ...]:
    def one(s: str) -> int:
        n = _int(s, "day of month")
        if n == 0 or not -31 <= n <= 31:
            raise ValueError(f"day of month {s!r} must be 1..31 or -31..-1")
        return n
    out = []
    for item in items:
        a, b = _range(str(item), "day of month", one, ordered=False)
        if (a > 0) == (b > 0) and a > b:
            raise ValueError(f"day-of-month range {item!r} ends before it starts")
        if a < 0 < b:
            raise ValueError(f"day-of-month range {item!r} mixes a negative start with a positive end")
        out.append((a, b))
    return tuple(out)


def parse_years(items: list[str | int]) -> tuple[tuple[int, int], ...]:
    return tuple(_range(str(item), "year", lambda s: _int(s, "year")) for item in items)


def parse_location(name: str | None) -> tzinfo:
    if name is None or name == "UTC":
        return UTC
    if name == "Local":
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {name!r}") from exc


def _minutes(text: str) -> int:
    m = _TIME_RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"time {text!r} must be HH:MM")
    hours, minutes = int(m.group(1)), int(m.group(2))
    total = hours * 60 + minutes
    if minutes > 59 or total > 24 * 60:
        raise ValueError(f"time {text!r} is out of range 00:00..24:00")
    return total


def _named(s: str, names: dict[str, int], what: str) -> int:
    key = s.strip().lower()
    if key not in names:
        raise ValueError(f"unknown {what} {s!r}")
    return names[key]


def _int(s: str, what: str) -> int:
    try:
        return int(s.strip())
    except ValueError:
        raise ValueError(f"{what} {s!r} is not a number") from None


def _range(item: str, what: str, one: Callable[[str], int], ordered: bool = True) -> tuple[int, int]:
    parts = item.split(":")
    if len(parts) > 2 or not all(p.strip() for p in parts):
        raise ValueError(f"{what} range {item!r} must be 'x' or 'x:y'")
    a = one(parts[0])
    b = one(parts[1]) if len(parts) == 2 else a
    if ordered and a > b:
        raise ValueError(f"{what} range {item!r} ends before it starts")
    return a, b
