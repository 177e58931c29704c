"""The loop watchdog: a loop that stops turning is reported once, with the blocking call's stack, and its
recovery is reported too."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pipeline.metrics import EVENT_LOOP_BLOCKS
from pipeline.worker.watchdog import LoopWatchdog


def test_check_reports_a_block_once_and_the_recovery() -> None:
    now = [100.0]
    dog = LoopWatchdog(threshold=10, clock=lambda: now[0])
    before = EVENT_LOOP_BLOCKS._value.get()
    now[0] = 105.0
    dog.check()
    assert EVENT_LOOP_BLOCKS._value.get() == before
    now[0] = 111.0
    dog.check()
    dog.check()
    assert EVENT_LOOP_BLOCKS._value.get() == before + 1
    dog._last = 111.0  # the loop turned again
    dog.check()
    assert dog._blocked_since is None


def test_a_real_blocking_call_on_the_loop_is_logged_with_its_stack(caplog: Any) -> None:
    dog = LoopWatchdog(threshold=0.3, beat=0.05)

    def blocking_call_on_the_loop() -> None:
        time.sleep(0.8)

    async def main() -> None:
        task = asyncio.create_task(dog.run())
        await asyncio.sleep(0.1)
        blocking_call_on_the_loop()
        await asyncio.sleep(0.2)
        task.cancel()

    with caplog.at_level("WARNING", logger="pipeline.worker.watchdog"):
        asyncio.run(main())
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "EVENT LOOP BLOCKED" in errors[0]
    assert "blocking_call_on_the_loop" in errors[0]
    assert any("turning again" in r.getMessage() for r in caplog.records if r.levelname == "WARNING")
