"""A watchdog thread for the event loop itself.

The lag monitor and /healthz run on the worker's event loop, so a loop that stops turning (a blocking call, a
busy Python loop) would silence them too: the worst kind of stall, with an empty log. This thread needs nothing
from the loop but a timestamp the loop refreshes every `beat` seconds; when the timestamp is older than
`threshold`, it logs at ERROR where every thread is (the loop's thread shows the blocking call), counts it, and
says so again when the loop turns once more.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable

from pipeline.metrics import EVENT_LOOP_BLOCKS

log = logging.getLogger(__name__)


class LoopWatchdog:
    def __init__(self, threshold: float = 10.0, beat: float = 0.5,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.beat = beat
        self._clock = clock
        self._last = clock()
        self._blocked_since: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    async def run(self) -> None:
        """The loop's side: refresh the timestamp; starts the watching thread on first call."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="loop-watchdog", daemon=True)
            self._thread.start()
        try:
            while True:
                self._last = self._clock()
                await asyncio.sleep(self.beat)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        """One look (the thread calls it every beat; tests call it directly)."""
        idle = self._clock() - self._last
        if idle >= self.threshold:
            if self._blocked_since is None:
                self._blocked_since = self._last
                EVENT_LOOP_BLOCKS.inc()
                log.error("EVENT LOOP BLOCKED for %.0f s: nothing on the loop runs (agents, commits, heartbeats, "
                          "/healthz). Threads now:\n%s", idle, _stacks())
        elif self._blocked_since is not None:
            log.warning("event loop turning again after %.0f s blocked", self._last - self._blocked_since)
            self._blocked_since = None

    def _watch(self) -> None:
        while not self._stop.wait(self.beat):
            self.check()


def _stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        if names.get(ident) == "loop-watchdog":
            continue
        out.append(f"--- thread {names.get(ident, ident)}\n" + "".join(traceback.format_stack(frame)[-12:]))
    return "\n".join(out)
