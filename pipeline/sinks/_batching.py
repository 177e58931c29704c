"""The batching loop shared by the storage and SIEM sinks.

Records go in with `put()`; a background task cuts batches by count, bytes and age, hands each batch to the
sink's `send`, retries what the destination could not take yet (exponential backoff with jitter), dead-letters
what it refused for good, and only then calls the ack callback, so a Kafka consumer commits offsets after its
records are durable. Memory is bounded: records held (queued or in flight) are capped by count and bytes and
`put()` blocks when the cap is reached, which stalls the consumer instead of growing the heap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from pipeline.backoff import equal_jitter
from pipeline.metrics import SINK_BATCH_SIZE, SINK_LATENCY, SINK_QUEUE_RECORDS, SINK_RECORDS, SINK_RETRIES
from pipeline.secrets import scrub_text

T = TypeVar("T")
log = logging.getLogger(__name__)


class RetriableSinkError(Exception):
    """The destination cannot take the batch now (down, overloaded, auth being fixed); the same batch may
    succeed later. `reason` is a short metrics label."""

    def __init__(self, message: str, *, reason: str = "unavailable") -> None:
        super().__init__(message)
        self.reason = reason


class SinkFailedError(RuntimeError):
    """The loop stopped on an error it could not dead-letter; `put()` and `flush()` raise it from then on."""


class BatchConfig(BaseModel):
    """How a sink batches and retries. The defaults suit a local PostgreSQL or a nearby SIEM."""

    model_config = ConfigDict(extra="forbid")

    max_records: int = Field(500, ge=1, description="cut a batch at this many records")
    max_bytes: int = Field(4 * 1024 * 1024, ge=1, description="cut a batch at this many encoded bytes")
    max_age_seconds: float = Field(1.0, gt=0, description="send a partial batch once its oldest record is this old")
    queue_max_records: int = Field(5000, ge=1, description="records held (queued + in flight) before put() blocks")
    queue_max_bytes: int = Field(32 * 1024 * 1024, ge=1, description="bytes held before put() blocks")
    retry_initial_seconds: float = Field(0.2, gt=0)
    retry_max_seconds: float = Field(30.0, gt=0)
    max_attempts: int | None = Field(
        None, ge=1, description="give up (dead-letter) after this many attempts; None retries forever and blocks")
    shutdown_timeout_seconds: float = Field(30.0, ge=0, description="how long stop() keeps flushing")


@dataclass(slots=True)
class BatchOutcome(Generic[T]):
    """What the destination did with a batch. Records in neither list were written (or were duplicates)."""

    duplicates: int = 0
    retry: list[T] = field(default_factory=list)
    retry_reason: str = "partial"
    rejected: list[tuple[T, str]] = field(default_factory=list)


class BatchSender(Protocol[T]):
    """The anatomy every batching sink shares: a metrics name, a size estimate and a batch send."""

    name: str

    def size_of(self, item: T) -> int: ...

    async def send(self, batch: list[T]) -> BatchOutcome[T]: ...

    async def close(self) -> None: ...


AckCallback = Callable[[list[Any]], Awaitable[None]]
DeadLetterCallback = Callable[[list[tuple[T, str]]], Awaitable[None]]


@dataclass(slots=True)
class _Held(Generic[T]):
    item: T
    size: int
    token: Any
    seq: int
    enqueued: float


class BatchingLoop(Generic[T]):
    """One sequential batch pipeline in front of a sink. Batches are sent one at a time, so acks (and offset
    commits) happen in input order."""

    def __init__(
        self,
        name: str,
        send: Callable[[list[T]], Awaitable[BatchOutcome[T]]],
        config: BatchConfig,
        *,
        size_of: Callable[[T], int],
        on_ack: AckCallback | None = None,
        dead_letter: DeadLetterCallback[T] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.name = name
        self._send = send
        self._cfg = config
        self._size_of = size_of
        self._on_ack = on_ack
        self._dead_letter = dead_letter
        self._sleep = sleep
        self._rng = rng
        self._buf: deque[_Held[T]] = deque()
        self._buf_bytes = 0
        self._held_records = 0
        self._held_bytes = 0
        self._next_seq = 0
        self._acked_seq = -1
        self._flush_upto = -1
        self._closing = False
        self._failure: BaseException | None = None
        self._cond = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def for_sender(
        cls,
        sender: BatchSender[T],
        config: BatchConfig,
        *,
        on_ack: AckCallback | None = None,
        dead_letter: DeadLetterCallback[T] | None = None,
    ) -> BatchingLoop[T]:
        return cls(sender.name, sender.send, config, size_of=sender.size_of, on_ack=on_ack,
                   dead_letter=dead_letter)

    def __repr__(self) -> str:
        return f"BatchingLoop(name={self.name!r}, held={self._held_records})"

    @property
    def held_records(self) -> int:
        """Records queued or in flight (not yet acked)."""
        return self._held_records

    @property
    def failure(self) -> BaseException | None:
        return self._failure

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"sink-{self.name}")

    async def __aenter__(self) -> BatchingLoop[T]:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def put(self, item: T, *, token: Any = None, size: int | None = None) -> None:
        """Queue one record; blocks while the loop holds its maximum (backpressure). `token` comes back
        through the ack callback once the record is durable (or dead-lettered)."""
        nbytes = self._size_of(item) if size is None else size
        if self._task is None and not self._closing:
            await self.start()
        async with self._cond:
            while self._failure is None and not self._closing and self._is_full(nbytes):
                await self._cond.wait()
            self._raise_if_failed()
            if self._closing:
                raise RuntimeError(f"sink {self.name} is stopping; it takes no more records")
            self._buf.append(_Held(item, nbytes, token, self._next_seq, time.monotonic()))
            self._next_seq += 1
            self._buf_bytes += nbytes
            self._held_records += 1
            self._held_bytes += nbytes
            SINK_QUEUE_RECORDS.labels(sink=self.name).set(self._held_records)
            self._cond.notify_all()

    async def flush(self) -> None:
        """Send everything queued so far now, and return once it is all acked."""
        async with self._cond:
            target = self._next_seq - 1
            self._flush_upto = max(self._flush_upto, target)
            self._cond.notify_all()
            while self._acked_seq < target and self._failure is None:
                await self._cond.wait()
            self._raise_if_failed()

    async def stop(self) -> None:
        """Flush what is queued (up to `shutdown_timeout_seconds`), then stop. Records not acked by then stay
        unacked, so the consumer re-reads them after a restart."""
        async with self._cond:
            self._closing = True
            self._cond.notify_all()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), self._cfg.shutdown_timeout_seconds)
        except TimeoutError:
            log.warning("sink %s: %d records not flushed at shutdown; they will be re-read", self.name,
                        self._held_records)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:  # the failure is kept in self._failure and surfaced by put()/flush()
            pass

    def _is_full(self, nbytes: int) -> bool:
        if self._held_records >= self._cfg.queue_max_records:
            return True
        return self._held_records > 0 and self._held_bytes + nbytes > self._cfg.queue_max_bytes

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise SinkFailedError(f"sink {self.name} stopped: {self._failure}") from self._failure

    def _batch_ready(self, now: float) -> float | None:
        """0 when a batch should be cut now, else seconds until the oldest record ages out (None: wait)."""
        if not self._buf:
            return None
        if (self._closing or self._buf[0].seq <= self._flush_upto or len(self._buf) >= self._cfg.max_records
                or self._buf_bytes >= self._cfg.max_bytes):
            return 0.0
        return max(0.0, self._cfg.max_age_seconds - (now - self._buf[0].enqueued))

    async def _next_batch(self) -> list[_Held[T]] | None:
        async with self._cond:
            while True:
                wait = self._batch_ready(time.monotonic())
                if wait == 0.0:
                    break
                if wait is None and self._closing:
                    return None
                try:
                    async with asyncio.timeout(wait):
                        await self._cond.wait()
                except TimeoutError:
                    pass
            batch: list[_Held[T]] = []
            nbytes = 0
            while self._buf and len(batch) < self._cfg.max_records:
                nxt = self._buf[0]
                if batch and nbytes + nxt.size > self._cfg.max_bytes:
                    break
                batch.append(self._buf.popleft())
                nbytes += nxt.size
            self._buf_bytes -= nbytes
            return batch

    async def _run(self) -> None:
        try:
            while True:
                batch = await self._next_batch()
                if batch is None:
                    return
                await self._deliver(batch)
                async with self._cond:
                    self._acked_seq = batch[-1].seq
                    self._held_records -= len(batch)
                    self._held_bytes -= sum(h.size for h in batch)
                    SINK_QUEUE_RECORDS.labels(sink=self.name).set(self._held_records)
                    self._cond.notify_all()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.error("sink %s stopped: %s", self.name, scrub_text(str(exc)))
            async with self._cond:
                self._failure = exc
                self._cond.notify_all()

    async def _deliver(self, batch: list[_Held[T]]) -> None:
        """Send until every record is written, a duplicate or dead-lettered; then ack the whole batch."""
        await deliver_batch(self.name, self._send, [h.item for h in batch], self._cfg,
                            dead_letter=self._dead_letter, sleep=self._sleep, rng=self._rng)
        if self._on_ack is not None:
            await self._on_ack([h.token for h in batch])


async def deliver_batch(
    name: str,
    send: Callable[[list[T]], Awaitable[BatchOutcome[T]]],
    items: list[T],
    config: BatchConfig,
    *,
    dead_letter: DeadLetterCallback[T] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    rng: Callable[[], float] = random.random,
) -> None:
    """Send one batch until every record is written, a duplicate or dead-lettered (retriable failures back off
    and retry; without `max_attempts` that is forever). Returns once the batch is durable. Shared by the
    BatchingLoop and by callers that already hold a whole batch (the worker's batch consumers)."""
    started = time.monotonic()
    SINK_BATCH_SIZE.labels(sink=name).observe(len(items))
    pending = items
    rejected: list[tuple[T, str]] = []
    attempt = 0
    while pending:
        reason: str
        try:
            outcome = await send(pending)
        except RetriableSinkError as exc:
            reason, still = exc.reason, pending
            detail = scrub_text(str(exc))
        except Exception as exc:
            if dead_letter is None:
                raise
            detail = scrub_text(f"{type(exc).__name__}: {exc}")
            rejected.extend((item, detail) for item in pending)
            SINK_RECORDS.labels(sink=name, outcome="rejected").inc(len(pending))
            break
        else:
            written = len(pending) - len(outcome.retry) - len(outcome.rejected) - outcome.duplicates
            SINK_RECORDS.labels(sink=name, outcome="written").inc(max(0, written))
            if outcome.duplicates:
                SINK_RECORDS.labels(sink=name, outcome="duplicate").inc(outcome.duplicates)
            if outcome.rejected:
                SINK_RECORDS.labels(sink=name, outcome="rejected").inc(len(outcome.rejected))
                rejected.extend(outcome.rejected)
            if not outcome.retry:
                break
            reason, still, detail = outcome.retry_reason, outcome.retry, outcome.retry_reason
        attempt += 1
        if config.max_attempts is not None and attempt >= config.max_attempts:
            gave_up = f"gave up after {attempt} attempts: {detail}"
            rejected.extend((item, gave_up) for item in still)
            SINK_RECORDS.labels(sink=name, outcome="rejected").inc(len(still))
            break
        SINK_RETRIES.labels(sink=name, reason=reason).inc()
        delay = equal_jitter(attempt, config.retry_initial_seconds, config.retry_max_seconds, rng)
        log.warning("sink %s: retrying %d records in %.2fs (%s)", name, len(still), delay, detail)
        await sleep(delay)
        pending = still
    if rejected:
        if dead_letter is None:
            reasons = "; ".join(sorted({r for _, r in rejected}))[:500]
            raise RuntimeError(f"{len(rejected)} records refused and no dead-letter handler: {reasons}")
        await dead_letter(rejected)
    SINK_LATENCY.labels(sink=name).observe(time.monotonic() - started)
