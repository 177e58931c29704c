"""One receiver's waiting notifications (FIFO, bounded, coalescing by group, with its size and oldest age), and
the in-order acking of what the delivery stage has taken.

A notification carries its group's whole current state (Alertmanager semantics), so when a destination is
saturated and a newer notification of a group arrives while an older one still waits, the newer one takes the
older one's place (and its age): the destination gets the latest state, not every intermediate one. A
notification already being sent is never replaced.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Entry:
    event: Any  # the faust event, acked once the notification is finished or superseded
    note: Any  # the delivery sinks' Notification
    enqueued_at: float


class Backlog:
    def __init__(self, limit: int, now: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._now = now
        self._waiting: OrderedDict[str, Entry] = OrderedDict()
        self._sending: dict[int, Entry] = {}
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        """Notifications not yet finished: waiting and being sent."""
        return len(self._waiting) + len(self._sending)

    @property
    def sending(self) -> int:
        return len(self._sending)

    @property
    def full(self) -> bool:
        return len(self._waiting) >= self._limit

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
        self._changed.set()
        return old

    async def take(self) -> Entry:
        """The oldest waiting entry, now counted as being sent until `done`."""
        while not self._waiting:
            self._changed.clear()
            await self._changed.wait()
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

    def drain(self) -> Iterator[Entry]:
        """Every unfinished entry (waiting and being sent), forgotten: a stopping worker releases them unacked."""
        entries = list(self._waiting.values()) + list(self._sending.values())
        self._waiting.clear()
        self._sending.clear()
        self._changed.set()
        return iter(entries)


class OrderedAcks:
    """Acks taken events in offset order per partition, whatever order they finish in.

    faust commits the first run of consecutive acked offsets and, for a fresh group (or a committed offset of 0)
    or a gap of one at the head, does not notice that an earlier offset is still unacked: acking out of order
    there would commit past a notification still waiting. Handing faust only in-order acks keeps every
    unfinished notification (and whatever follows it in its partition) uncommitted, so a restart takes it up
    again; the delivery log makes the finished ones that come back no-ops."""

    def __init__(self, ack: Callable[[Any], Any]) -> None:
        self._ack = ack
        self._by_tp: dict[Any, OrderedDict[int, list[Any]]] = {}

    def taken(self, event: Any) -> None:
        msg = event.message
        self._by_tp.setdefault(msg.tp, OrderedDict())[msg.offset] = [event, False]

    async def finished(self, event: Any) -> None:
        msg = event.message
        line = self._by_tp.get(msg.tp)
        if line is None or msg.offset not in line:
            return
        line[msg.offset][1] = True
        while line:
            offset, (head, done) = next(iter(line.items()))
            if not done:
                break
            del line[offset]
            res = self._ack(head)
            if hasattr(res, "__await__"):
                await res

    def forget(self) -> list[Any]:
        """Every event not acked yet (finished or not), forgotten: a stopping worker leaves them uncommitted."""
        events = [e for line in self._by_tp.values() for e, _ in line.values()]
        self._by_tp.clear()
        return events
