"""An asyncio loop that drives `Dispatcher.tick` from a clock, for a worker that has no other scheduler.

It sleeps until `next_due()` (or `max_sleep`, so maintenance still runs and idle groups' group_interval
points count as passed no later than that: see the Dispatcher's docstring), ticks, and hands what the tick
returned to `emit`. Call `wake()` after an `ingest` that may have created an earlier timer. Ingest and tick
never interleave: both are synchronous and the loop only awaits between them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from pipeline.notification import Notification
from pipeline.transforms.routing.dispatcher import Dispatcher

Emit = Callable[[list[Notification]], Awaitable[None]]


class TickLoop:
    def __init__(self, dispatcher: Dispatcher, emit: Emit, *, clock: Callable[[], float] = time.time,
                 max_sleep: float = 1.0) -> None:
        self.dispatcher = dispatcher
        self.emit = emit
        self.clock = clock
        self.max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._stopped = False

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopped:
            now = self.clock()
            notifications = self.dispatcher.tick(now)
            if notifications:
                await self.emit(notifications)
            due = self.dispatcher.next_due()
            delay = self.max_sleep if due is None else min(self.max_sleep, max(0.0, due - self.clock()))
            if delay <= 0:
                await asyncio.sleep(0)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass
