"""KeyedLocks: one holder per key at a time, independent keys, and no lock left behind."""

from __future__ import annotations

import asyncio

from pipeline.actions._locks import KeyedLocks


async def test_one_holder_per_key_and_the_map_empties():
    locks = KeyedLocks()
    order: list[str] = []
    inside = asyncio.Event()
    release = asyncio.Event()

    async def first() -> None:
        async with locks.hold("a"):
            order.append("first in")
            inside.set()
            await release.wait()
            order.append("first out")

    async def second() -> None:
        await inside.wait()
        async with locks.hold("a"):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await inside.wait()
    await asyncio.sleep(0)
    assert len(locks) == 1 and order == ["first in"]
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["first in", "first out", "second in"]
    assert len(locks) == 0


async def test_other_keys_do_not_wait():
    locks = KeyedLocks()
    async with locks.hold("a"), locks.hold("b"):
        assert len(locks) == 2
    assert len(locks) == 0


async def test_lock_is_dropped_when_the_holder_raises():
    locks = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with locks.hold("a"):  # usable again, not left locked
        assert len(locks) == 1
