"""A receiver's backlog (FIFO, coalescing by group, size and age, bounded) and in-order acking."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from pipeline.worker._backlog import Backlog, OffsetLine


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


def test_commit_positions_advance_in_offset_order_per_partition() -> None:
    line = OffsetLine()
    for partition, offset in [(0, 0), (0, 1), (0, 2), (1, 0)]:
        line.taken(partition, offset)
    line.finished(0, 2)
    line.finished(0, 1)
    line.finished(1, 0)
    assert line.committable() == {1: 1}  # offset 0 of partition 0 is still unfinished: nothing after it
    assert line.committable() == {}  # what was committable is handed out once
    line.finished(0, 0)
    assert line.committable() == {0: 3}
    assert len(line) == 0


def test_forgotten_partitions_are_never_committed() -> None:
    line = OffsetLine()
    for partition, offset in [(0, 5), (0, 6), (1, 9)]:
        line.taken(partition, offset)
    line.forget([0])
    line.finished(0, 5)  # a send of a revoked partition that finishes later changes nothing
    line.finished(1, 9)
    assert line.committable() == {1: 10}
    line.taken(2, 0)
    line.forget()
    line.finished(2, 0)
    assert line.committable() == {} and len(line) == 0


async def test_discard_forgets_only_the_selected_waiting_entries() -> None:
    backlog = Backlog(10)
    backlog.put(ev(0, "t-0"), Note("a", 1))
    backlog.put(ev(1, "t-1"), Note("b", 1))
    backlog.put(ev(2, "t-0"), Note("c", 1))
    sending = await backlog.take()  # a (t-0) is being sent: a revocation does not touch it
    assert backlog.discard(lambda e: e.event.message.tp == "t-0") == 1
    assert len(backlog) == 2 and backlog.sending == 1
    assert (await backlog.take()).note == Note("b", 1)
    backlog.done(sending)


async def test_each_put_wakes_one_waiting_sender_and_every_entry_is_taken_once() -> None:
    backlog = Backlog(100)
    woken: list[int] = []

    async def sender(i: int) -> tuple[int, str]:
        entry = await backlog.take()
        woken.append(i)
        return i, entry.note.group_key

    senders = [asyncio.create_task(sender(i)) for i in range(20)]
    await asyncio.sleep(0)  # all twenty wait
    backlog.put(ev(1), Note("g1", 1))
    backlog.put(ev(2), Note("g2", 1))
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(woken) == 2  # two entries: two senders ran, eighteen still wait
    assert sorted(t.result()[1] for t in senders if t.done()) == ["g1", "g2"]
    for t in senders:
        t.cancel()
    await asyncio.gather(*senders, return_exceptions=True)


async def test_a_woken_sender_cancelled_before_it_runs_passes_the_entry_on() -> None:
    backlog = Backlog(100)
    first = asyncio.create_task(backlog.take())
    second = asyncio.create_task(backlog.take())
    await asyncio.sleep(0)
    backlog.put(ev(1), Note("g1", 1))  # wakes `first`...
    first.cancel()  # ...which is cancelled before it takes the entry
    entry = await asyncio.wait_for(second, 1.0)
    assert entry.note.group_key == "g1"
    assert first.cancelled()


def test_full_at_the_limit_and_low_again_at_half() -> None:
    backlog = Backlog(4)
    states = []
    for i in range(4):
        backlog.put(ev(i), Note(f"g{i}", 1))
        states.append((backlog.full, backlog.low))
    assert states == [(False, True), (False, True), (False, False), (True, False)]
