"""One coroutine at a time per action id: a trigger, a timer tick and an operator command on the same action
must not interleave their ledger writes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class KeyedLocks:
    """An asyncio.Lock per key, created on first use and dropped when nobody holds or waits for it, so the
    map only ever holds the actions in flight (a long-running worker sees millions of ids)."""

    def __init__(self) -> None:
        self._slots: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._slots)

    def __repr__(self) -> str:
        return f"KeyedLocks({len(self._slots)} in use)"

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._slots.setdefault(key, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[key]
