"""The worker without faust: SIGTERM stops it cleanly (exit 0, shutdown called, tasks cancelled); a task that
fails stops it with exit code 1; a task that simply returns (a server that started) is not a failure."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

from pipeline.worker.app import WorkerContext
from pipeline.worker.plain import _serve


@dataclass
class FakeContext:
    """The two things _serve uses of a WorkerContext: its tasks and its shutdown."""

    tasks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    shut_down: int = 0

    async def shutdown(self) -> None:
        self.shut_down += 1


def _forever(cancelled: list[str], name: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
    return run


async def test_sigterm_finishes_with_exit_code_0() -> None:
    cancelled: list[str] = []

    async def started_then_returns() -> None:
        return None

    async def terminate() -> None:  # runs once the handlers are installed
        await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.Event().wait()

    ctx = FakeContext([_forever(cancelled, "audit"), started_then_returns, terminate])
    assert await asyncio.wait_for(_serve(cast(WorkerContext, ctx)), 10) == 0
    assert ctx.shut_down == 1
    assert cancelled == ["audit"]


async def test_a_failing_task_stops_the_worker_with_exit_code_1() -> None:
    cancelled: list[str] = []

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("sink misconfigured")

    ctx = FakeContext([_forever(cancelled, "normalize"), fails])
    assert await asyncio.wait_for(_serve(cast(WorkerContext, ctx)), 10) == 1
    assert ctx.shut_down == 1
    assert cancelled == ["normalize"]
