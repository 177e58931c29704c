"""First claim wins, across restarts and replicas: one-time tokens (SSO link nonces) on a compacted topic.

A claim is a record keyed by what is claimed, on a one-partition topic. Every process tails the partition from
the start, so all of them see the records in the same order; `claim()` produces its record (acks=all), waits
until its own tail has read up to that offset, and has won only if the first record for the key is its own.
Two replicas racing for the same link therefore agree on one winner, and a restarted process re-reads every
claim before it serves. Compaction keeps the newest record per key, which still marks the key as claimed;
records are deleted after `retention.ms` (longer than any link lives).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from pipeline.kafka.producer import EventProducer
from pipeline.kafka.reader import end_offsets, groupless_consumer

log = logging.getLogger(__name__)
CLAIM_WAIT_SECONDS = 10.0


class ClaimUnavailable(RuntimeError):
    """The claim could not be confirmed (broker unreachable or the tail is behind); nothing was granted."""


class ClaimLog:
    def __init__(self, producer: EventProducer, bootstrap: str, topic: str, *, poll_seconds: float = 0.1) -> None:
        self._producer = producer
        self._bootstrap = bootstrap
        self._topic = topic
        self._poll = poll_seconds
        self._first: dict[str, tuple[str, float]] = {}  # key -> (claimant, expires_at) of its first record
        self._next = 0  # next offset the tail will read
        self._advanced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._consumer: Consumer | None = None
        self._stopping = False

    def __repr__(self) -> str:
        return f"ClaimLog({self._topic!r}, known={len(self._first)})"

    async def start(self) -> None:
        """Read every claim up to the current end, then keep tailing."""
        self._consumer = groupless_consumer(self._bootstrap)
        self._consumer.assign([TopicPartition(self._topic, 0, OFFSET_BEGINNING)])
        end = (await asyncio.to_thread(end_offsets, self._bootstrap, self._topic)).get(0, 0)
        self._task = asyncio.create_task(self._tail(), name=f"claims:{self._topic}")
        await self._wait_past(end - 1, CLAIM_WAIT_SECONDS * 3)

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await asyncio.to_thread(self._consumer.close)
            self._consumer = None

    def claimed(self, key: str) -> bool:
        """Whether a claim for `key` has been seen (what this process knows now; `claim` is authoritative)."""
        return key in self._first

    async def claim(self, key: str, expires_at: float) -> bool:
        """True for exactly one caller per key over every process sharing the topic."""
        me = uuid.uuid4().hex
        try:
            delivered = await self._producer.send(
                self._topic, orjson.dumps({"by": me, "expires_at": expires_at, "at": time.time()}), key)
        except Exception as exc:
            raise ClaimUnavailable(f"claim not written: {type(exc).__name__}") from None
        await self._wait_past(delivered.offset, CLAIM_WAIT_SECONDS)
        first = self._first.get(key)
        return first is not None and first[0] == me

    async def _wait_past(self, offset: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self._next <= offset:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClaimUnavailable(f"the claim log tail did not reach offset {offset}")
            self._advanced.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._advanced.wait(), left)

    async def _tail(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while not self._stopping:
            try:
                batch = await asyncio.to_thread(consumer.consume, 500, self._poll)
            except Exception:
                log.exception("claim log %s: read failed; retrying", self._topic)
                await asyncio.sleep(1.0)
                continue
            for msg in batch:
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:  # read up to the end (offset = high mark)
                        self._next = max(self._next, msg.offset() or 0)
                    else:
                        log.warning("claim log %s: %s", self._topic, err)
                    continue
                key = (msg.key() or b"").decode("utf-8", "replace")
                if key and key not in self._first:
                    try:
                        value = orjson.loads(msg.value() or b"{}")
                        self._first[key] = (str(value.get("by", "")), float(value.get("expires_at", 0)))
                    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
                        self._first[key] = ("", 0.0)  # unreadable, but claimed all the same
                self._next = max(self._next, (msg.offset() or 0) + 1)
            if batch:
                self._advanced.set()  # wakes waiters; they re-check their offset
                self._prune()

    def _prune(self) -> None:
        if len(self._first) < 100_000:
            return
        now = time.time()
        self._first = {k: v for k, v in self._first.items() if v[1] > now - 3600}
