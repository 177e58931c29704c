"""A receiver's backlog (FIFO, coalescing by group, size and age, bounded) and in-order acking."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from pipeline.worker._backlog import Backlog, OrderedAcks


@dataclass(frozen=True)
class Note:
    group_key: str
    version: int


@dataclass(frozen=True)
class Msg:
    tp: str
    offset: int


@dataclass(frozen=True)
class Event:
    message: Msg


def ev(offset: int, tp: str = "t-0") -> Event:
    return Event(Msg(tp, offset))


async def test_a_newer_state_of_a_waiting_group_takes_its_place_and_age() -> None:
    now = [100.0]
    backlog = Backlog(10, now=lambda: now[0])
    assert backlog.put(ev(0), Note("a", 1)) is None
    now[0] = 105.0
    assert backlog.put(ev(1), Note("b", 1)) is None
    replaced = backlog.put(ev(2), Note("a", 2))
    assert replaced is not None and replaced.note == Note("a", 1)
    assert len(backlog) == 2
    now[0] = 130.0
    assert backlog.oldest_age() == 30.0  # group a has waited since 100
    first = await backlog.take()
    assert first.note == Note("a", 2)  # in a's place, ahead of b
    assert backlog.put(ev(3), Note("a", 3)) is None  # a being sent is never replaced: a new entry queues
    assert len(backlog) == 3 and backlog.sending == 1
    backlog.done(first)
    assert [(await backlog.take()).note for _ in range(2)] == [Note("b", 1), Note("a", 3)]


async def test_room_and_idle_wake_up_on_changes() -> None:
    backlog = Backlog(1)
    backlog.put(ev(0), Note("a", 1))
    assert backlog.full
    waiter = asyncio.create_task(backlog.wait_room())
    entry = await backlog.take()
    await asyncio.wait_for(waiter, 1)
    idle = asyncio.create_task(backlog.idle())
    await asyncio.sleep(0)
    assert not idle.done()
    backlog.done(entry)
    await asyncio.wait_for(idle, 1)


async def test_drain_forgets_waiting_and_sending() -> None:
    backlog = Backlog(10)
    backlog.put(ev(0), Note("a", 1))
    backlog.put(ev(1), Note("b", 1))
    await backlog.take()
    assert len(list(backlog.drain())) == 2 and len(backlog) == 0


async def test_acks_go_out_in_offset_order_per_partition() -> None:
    acked: list[tuple[str, int]] = []
    acks = OrderedAcks(lambda e: acked.append((e.message.tp, e.message.offset)))
    events = [ev(0), ev(1), ev(2), ev(0, "t-1")]
    for e in events:
        acks.taken(e)
    await acks.finished(events[2])
    await acks.finished(events[1])
    await acks.finished(events[3])
    assert acked == [("t-1", 0)]  # offset 0 of t-0 is still unfinished: nothing after it is acked
    await acks.finished(events[0])
    assert acked == [("t-1", 0), ("t-0", 0), ("t-0", 1), ("t-0", 2)]


async def test_forget_returns_every_unacked_event() -> None:
    acks = OrderedAcks(lambda e: None)
    events: list[Any] = [ev(0), ev(1), ev(2)]
    for e in events:
        acks.taken(e)
    await acks.finished(events[1])
    assert acks.forget() == events
