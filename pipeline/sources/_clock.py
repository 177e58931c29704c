"""The pollers' notion of now: the system clock, or a simulator's clock followed through its admin API.

The simulator can run its clock faster than real time; pollers then have to ask it which date it is, or they
would close dates the simulator has not finished. The follower polls `GET <admin>/clock` and extrapolates with
the reported speed in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

import httpx
import orjson

log = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class FixedClock:
    """A settable clock for tests and one-shot runs."""

    def __init__(self, now: float) -> None:
        self.value = now

    def now(self) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"FixedClock({self.value})"


class SimClockFollower:
    """Tracks a simulator's clock: `now()` = last reported sim time + elapsed real time x speed."""

    def __init__(self, admin_url: str, *, token: str | None = None, refresh_seconds: float = 1.0) -> None:
        self._url = admin_url.rstrip("/") + "/clock"
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._refresh = refresh_seconds
        self._sim = time.time()
        self._mono = time.monotonic()
        self._speed = 1.0
        self._paused = False
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return "SimClockFollower()"

    def now(self) -> float:
        if self._paused:
            return self._sim
        return self._sim + (time.monotonic() - self._mono) * self._speed

    async def sync(self, client: httpx.AsyncClient | None = None) -> None:
        own = client is None
        http = client or httpx.AsyncClient(timeout=5.0)
        try:
            response = await http.get(self._url, headers=self._headers)
            response.raise_for_status()
            state = orjson.loads(response.content)
            self._sim = float(state["now"])
            self._mono = time.monotonic()
            self._speed = float(state.get("speed", 1.0))
            self._paused = bool(state.get("paused", False))
        finally:
            if own:
                await http.aclose()

    async def start(self) -> None:
        await self.sync()
        self._task = asyncio.create_task(self._follow(), name="sim-clock-follower")

    async def _follow(self) -> None:
        async with httpx.AsyncClient(timeout=5.0) as http:
            while True:
                await asyncio.sleep(self._refresh)
                try:
                    await self.sync(http)
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    log.warning("simulator clock unreachable: %s", type(exc).__name__)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
