"""The simulated clock: real time scaled by `speed`, which tests and the admin API can set, advance or pause."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone


class SimClock:
    """now() = anchor_sim + (monotonic() - anchor_real) * speed, frozen while paused."""

    def __init__(self, start: float, speed: float = 1.0, monotonic: Callable[[], float] = time.monotonic,
                 utc_offset_minutes: int = 480) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._monotonic = monotonic
        self._anchor_real = monotonic()
        self._anchor_sim = float(start)
        self._speed = float(speed)
        self._paused = False
        self.tz = timezone(timedelta(minutes=utc_offset_minutes))

    def now(self) -> float:
        if self._paused:
            return self._anchor_sim
        return self._anchor_sim + (self._monotonic() - self._anchor_real) * self._speed

    def _rebase(self, sim_time: float) -> None:
        self._anchor_sim = sim_time
        self._anchor_real = self._monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    def set(self, sim_time: float) -> None:
        self._rebase(float(sim_time))

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("advance takes a non-negative number of seconds")
        self._rebase(self.now() + seconds)

    def pause(self) -> None:
        if not self._paused:
            self._rebase(self.now())
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._paused = False
            self._anchor_real = self._monotonic()

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._rebase(self.now())
        self._speed = float(speed)

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def date_of(self, ts: float) -> str:
        """The log date (YYYY-MM-DD in the corp's timezone) a Unix time belongs to."""
        return self.local(ts).strftime("%Y-%m-%d")

    def day_start(self, date: str) -> int:
        """Unix time of local midnight starting `date`."""
        day = datetime.strptime(date, "%Y-%m-%d").replace(tzinfo=self.tz)
        return int(day.timestamp())

    def state(self) -> dict[str, object]:
        now = self.now()
        return {
            "now": now,
            "now_iso": datetime.fromtimestamp(now, UTC).isoformat(),
            "local": self.local(now).isoformat(),
            "date": self.date_of(now),
            "speed": self._speed,
            "paused": self._paused,
        }
