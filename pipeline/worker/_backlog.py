"""One receiver's waiting notifications (FIFO, bounded, coalescing by group, with its size and oldest age), and
the in-order commit positions of what the delivery stage has taken.

A notification carries its group's whole current state (Alertmanager semantics), so when a destination is
saturated and a newer notification of a group arrives while an older one still waits, the newer one takes the
older one's place (and its age): the destination gets the latest state, not every intermediate one. A
notification already being sent is never replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Entry:
    event: Any  # where it came from (partition, offset, raw value): finished once sent or superseded
    note: Any  # the Notification
    enqueued_at: float


class Backlog:
    def __init__(self, limit: int, now: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._now = now
        self._waiting: OrderedDict[str, Entry] = OrderedDict()
        self._sending: dict[int, Entry] = {}
        self._changed = asyncio.Event()  # for idle() and wait_room(): something was taken or finished
        self._takers: deque[asyncio.Future[None]] = deque()  # senders waiting in take(), woken one per put

    def __len__(self) -> int:
        """Notifications not yet finished: waiting and being sent."""
        return len(self._waiting) + len(self._sending)

    @property
    def sending(self) -> int:
        return len(self._sending)

    @property
    def full(self) -> bool:
        return len(self._waiting) >= self._limit

    @property
    def low(self) -> bool:
        """At most half full: where a paused intake resumes (not at the first free place, see delivery's _flow)."""
        return len(self._waiting) <= self._limit // 2

    def oldest_age(self) -> float:
        stamps = [e.enqueued_at for e in self._waiting.values()] + [e.enqueued_at for e in self._sending.values()]
        return max(0.0, self._now() - min(stamps)) if stamps else 0.0

    def put(self, event: Any, note: Any) -> Entry | None:
        """Queue a notification; returns the waiting entry it replaced (same group), if any."""
        key = note.group_key
        old = self._waiting.get(key)
        if old is not None:
            self._waiting[key] = Entry(event, note, old.enqueued_at)  # keeps the place in line and the age
        else:
            self._waiting[key] = Entry(event, note, self._now())
            self._wake_taker()
        return old

    def _wake_taker(self) -> None:
        """Wake one sender waiting in take() (waking them all per notification would cost O(senders) each)."""
        while self._takers:
            taker = self._takers.popleft()
            if not taker.done():
                taker.set_result(None)
                return

    async def take(self) -> Entry:
        """The oldest waiting entry, now counted as being sent until `done`."""
        while not self._waiting:
            taker = asyncio.get_running_loop().create_future()
            self._takers.append(taker)
            try:
                await taker
            except asyncio.CancelledError:
                if taker.done() and not taker.cancelled() and self._waiting:
                    self._wake_taker()  # the wake-up it got goes to another sender
                raise
        _, entry = self._waiting.popitem(last=False)
        self._sending[id(entry)] = entry
        self._changed.set()
        return entry

    def done(self, entry: Entry) -> None:
        self._sending.pop(id(entry), None)
        self._changed.set()

    async def wait_room(self) -> None:
        while self.full:
            self._changed.clear()
            await self._changed.wait()

    async def idle(self) -> None:
        """Return once nothing is being sent (a stopping worker's sends end at their next part boundary)."""
        while self._sending:
            self._changed.clear()
            await self._changed.wait()

    def discard(self, which: Callable[[Entry], bool]) -> int:
        """Forget the waiting entries `which` selects (their partition was revoked); returns how many."""
        gone = [key for key, entry in self._waiting.items() if which(entry)]
        for key in gone:
            del self._waiting[key]
        if gone:
            self._changed.set()
        return len(gone)

    def drain(self) -> Iterator[Entry]:
        """Every unfinished entry (waiting and being sent), forgotten: a stopping worker releases them unacked."""
        entries = list(self._waiting.values()) + list(self._sending.values())
        self._waiting.clear()
        self._sending.clear()
        self._changed.set()
        return iter(entries)


class OffsetLine:
    """Which offsets of each partition may be committed, whatever order their notifications finish in.

    A notification is taken in offset order and finished whenever its send (and the records it produced) are
    done; only the leading run of finished offsets of a partition is committable, so an unfinished
    notification, and everything after it in its partition, stays uncommitted and is read again after a
    restart (the delivery log makes the finished ones that come back no-ops)."""

    def __init__(self) -> None:
        self._lines: dict[int, OrderedDict[int, bool]] = {}

    def __len__(self) -> int:
        return sum(len(line) for line in self._lines.values())

    def taken(self, partition: int, offset: int) -> None:
        self._lines.setdefault(partition, OrderedDict())[offset] = False

    def finished(self, partition: int, offset: int) -> None:
        line = self._lines.get(partition)
        if line is not None and offset in line:
            line[offset] = True

    def committable(self) -> dict[int, int]:
        """{partition: next offset to read} for every partition whose leading run of finished offsets grew;
        those offsets are forgotten."""
        out: dict[int, int] = {}
        for partition, line in self._lines.items():
            while line:
                offset, done = next(iter(line.items()))
                if not done:
                    break
                del line[offset]
                out[partition] = offset + 1
        return out

    def forget(self, partitions: Iterator[int] | list[int] | None = None) -> None:
        """Drop the tracking of these partitions (revoked), or of all (a stop): their unfinished offsets are
        simply never committed by this process."""
        for partition in list(self._lines) if partitions is None else partitions:
            self._lines.pop(partition, None)
