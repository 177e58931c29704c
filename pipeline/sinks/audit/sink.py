"""The audit sink: exmail.events envelopes -> batching loop -> AuditStore, acked only once durable.

Each record remembers the Kafka partition it came from; a batch is split by partition and each part written
with `write_batch(..., chain_partition=partition)`, so a chain follows one partition of the stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.envelope import Envelope
from pipeline.sinks._batching import AckCallback, BatchConfig, BatchingLoop, BatchOutcome, DeadLetterCallback
from pipeline.sinks.audit.store import AuditStore, StoreUnavailable


@dataclass(slots=True, frozen=True)
class AuditItem:
    """One record for the store; `raw` is the bytes the envelope was decoded from, stored as they are and
    counted for batch sizes, so the event is never serialized again."""

    envelope: Envelope
    partition: int
    raw: bytes | None = None


class AuditSink:
    """Feed with `await sink.put(envelope, partition=..., token=...)`; `on_ack(tokens)` runs per durable batch
    (commit offsets there); refused records go to `dead_letter([(item, reason)])` before the ack. `send` also
    serves callers that batch themselves (the worker's batch consumer)."""

    def __init__(self, store: AuditStore, config: BatchConfig, *, name: str = "audit",
                 on_ack: AckCallback | None = None,
                 dead_letter: DeadLetterCallback[AuditItem] | None = None) -> None:
        self.name = name
        self.store = store
        self.loop: BatchingLoop[AuditItem] = BatchingLoop(
            name, self.send, config, size_of=self.size_of, on_ack=on_ack, dead_letter=dead_letter)

    def __repr__(self) -> str:
        return f"AuditSink(name={self.name!r}, store={self.store!r})"

    @staticmethod
    def size_of(item: AuditItem) -> int:
        return len(item.raw) if item.raw is not None else len(item.envelope.encode())

    async def put(self, envelope: Envelope, *, partition: int, token: Any = None, raw: bytes | None = None) -> None:
        await self.loop.put(AuditItem(envelope, partition, raw), token=token)

    async def send(self, batch: list[AuditItem]) -> BatchOutcome[AuditItem]:
        """The whole batch in one store transaction (every chain partition it touches)."""
        groups: dict[int, list[tuple[Envelope, bytes | None]]] = {}
        for item in batch:
            groups.setdefault(item.partition, []).append((item.envelope, item.raw))
        outcome: BatchOutcome[AuditItem] = BatchOutcome()
        try:
            result = await self.store.write_chains(groups)
        except StoreUnavailable as exc:
            outcome.retry.extend(batch)
            outcome.retry_reason = exc.reason
            return outcome
        outcome.duplicates = result.duplicates
        by_env = {id(i.envelope): i for i in batch}
        outcome.rejected.extend((by_env[id(r.envelope)], r.reason) for r in result.rejected)
        return outcome

    async def start(self) -> None:
        await self.loop.start()

    async def flush(self) -> None:
        await self.loop.flush()

    async def stop(self) -> None:
        await self.loop.stop()

    async def close(self) -> None:
        await self.loop.stop()
        await self.store.close()

    async def __aenter__(self) -> AuditSink:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
