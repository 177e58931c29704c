"""ActionsRunner: the service's life in a consumer (load, resume, timer, routing by topic, closing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline.actions import ActionInputError, ActionsRunner


class FakeService:
    def __init__(self, fail_ticks: int = 0) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.ticks = 0
        self.fail_ticks = fail_ticks
        self.ticked = asyncio.Event()

    async def run_due(self) -> list[Any]:
        self.ticks += 1
        self.calls.append(("run_due", None))
        if self.ticks >= 3:
            self.ticked.set()
        if 1 < self.ticks <= 1 + self.fail_ticks:
            raise RuntimeError("ledger unavailable")
        return []

    async def handle_hr(self, value: bytes) -> None:
        self.calls.append(("hr", value))

    async def handle_alert(self, value: bytes) -> None:
        self.calls.append(("alert", value))

    async def handle_options(self, value: bytes) -> None:
        self.calls.append(("options", value))


class FakeClient:
    def __init__(self, fail: bool = False) -> None:
        self.closed = False
        self.fail = fail

    async def aclose(self) -> None:
        self.closed = True
        if self.fail:
            raise OSError("already gone")


def _runner(service: FakeService, **kwargs: Any) -> ActionsRunner:
    return ActionsRunner(service, hr_topic="t.hr", alerts_topic="t.alerts", options_topic="t.options",  # type: ignore[arg-type]
                         **kwargs)


async def test_loads_then_resumes_then_routes_by_topic_and_closes_clients():
    service = FakeService()
    order: list[str] = []

    async def load() -> int:
        order.append("load")
        assert service.calls == []  # the ledger is read before any work
        return 0

    clients = [FakeClient(fail=True), FakeClient()]
    runner = _runner(service, load=load, clients=clients, every_seconds=3600)
    assert runner.topics == ["t.hr", "t.alerts", "t.options"]
    async with runner:
        assert order == ["load"] and service.calls == [("run_due", None)]
        await runner.handle("t.options", b"o")
        await runner.handle("t.hr", b"h")
        await runner.handle("t.alerts", b"a")
        with pytest.raises(ActionInputError, match=r"'t.other' is not an actions trigger topic"):
            await runner.handle("t.other", b"x")
    assert service.calls[1:] == [("options", b"o"), ("hr", b"h"), ("alert", b"a")]
    assert all(c.closed for c in clients)  # a failing close does not keep the others open


async def test_timer_keeps_running_after_a_failed_tick_and_stops_on_exit():
    service = FakeService(fail_ticks=1)
    async with _runner(service, every_seconds=0.001):
        await asyncio.wait_for(service.ticked.wait(), timeout=30)
    ticks = service.ticks
    await asyncio.sleep(0.01)
    assert ticks >= 3 and service.ticks == ticks  # the failure was logged, the timer went on, then stopped


async def test_clients_are_closed_when_the_loop_fails():
    service = FakeService()
    client = FakeClient()
    with pytest.raises(RuntimeError, match="consumer died"):
        async with _runner(service, clients=[client], every_seconds=3600):
            raise RuntimeError("consumer died")
    assert client.closed
