"""The actions service's life inside a consumer process (the worker's `actions` agent, or anything that reads
the trigger topics): load the ledger, resume interrupted work, run due work on a timer, route each trigger
record by its topic, and close the Exmail clients at the end. The process keeps only the wiring: which
topics, which clients, where dead letters go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Protocol

from pipeline.actions.errors import ActionInputError
from pipeline.actions.service import ActionService

log = logging.getLogger("pipeline.actions")
RUN_DUE_EVERY_SECONDS = 15.0


class Closable(Protocol):
    async def aclose(self) -> None: ...


class ActionsRunner:
    """`async with runner:` around the consumer loop; `await runner.handle(topic, value)` per record, which
    raises ActionInputError for a record to dead-letter. Run one at a time over a ledger (see README.md)."""

    def __init__(
        self,
        service: ActionService,
        *,
        hr_topic: str,
        alerts_topic: str,
        options_topic: str,
        load: Callable[[], Awaitable[object]] | None = None,
        clients: Iterable[Closable] = (),
        every_seconds: float = RUN_DUE_EVERY_SECONDS,
    ) -> None:
        self._service = service
        self._handlers = {
            hr_topic: service.handle_hr,
            alerts_topic: service.handle_alert,
            options_topic: service.handle_options,
        }
        self._load = load
        self._clients = list(clients)
        self._every = every_seconds
        self._ticker: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"ActionsRunner(topics={sorted(self._handlers)}, every={self._every}s)"

    @property
    def topics(self) -> list[str]:
        """The trigger topics, in the order hr.lifecycle, alerts, options."""
        return list(self._handlers)

    async def __aenter__(self) -> ActionsRunner:
        if self._load is not None:
            await self._load()
        await self._service.run_due()
        self._ticker = asyncio.create_task(self._run_due_forever())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        for client in self._clients:
            with contextlib.suppress(Exception):  # closing is best effort: the process is stopping anyway
                await client.aclose()

    async def handle(self, topic: str, value: bytes) -> None:
        """Hand one trigger record to the service; ActionInputError means dead-letter it."""
        handler = self._handlers.get(topic)
        if handler is None:
            raise ActionInputError(f"topic {topic!r} is not an actions trigger topic")
        await handler(value)

    async def _run_due_forever(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            try:
                await self._service.run_due()
            except Exception:
                log.exception("actions: run_due failed; retrying on the next tick")
