"""`pipeline replay`: re-inject dead letters into the topic they came from, after the cause was fixed.

Reads `exmail.dlq` from the start (or a time) up to the end offsets seen when it starts, so a replay that fails
again (and is dead-lettered again) is never picked up by the same run.

A payload with a masked value ("***" where a credential, signature or SSO link was) is never resent: it would
deliver a dead link or a broken request. Undelivered notifications are dead-lettered as the routing record
they came from, which holds no link; replaying that makes the delivery stage sign fresh SSO links.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.secrets import is_masked


@dataclass(frozen=True, slots=True)
class ReplayFilter:
    stage: str | None = None
    origin_topic: str | None = None
    reason: re.Pattern[str] | None = None
    ids: frozenset[str] = frozenset()
    since: datetime | None = None

    def matches(self, env: Envelope) -> bool:
        data = env.data
        origin = data.get("origin") or {}
        if self.stage and data.get("stage") != self.stage:
            return False
        if self.origin_topic and origin.get("topic") != self.origin_topic:
            return False
        if self.reason and not self.reason.search(str(data.get("reason", ""))):
            return False
        return not (self.ids and env.id not in self.ids)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    envelope: Envelope
    partition: int
    offset: int

    @property
    def origin_topic(self) -> str | None:
        topic = (self.envelope.data.get("origin") or {}).get("topic")
        return topic if isinstance(topic, str) else None

    def payload_bytes(self) -> bytes | None:
        payload = self.envelope.data.get("payload")
        if payload is None:
            return None
        if isinstance(payload, str):
            return payload.encode()
        return orjson.dumps(payload)


def read_dead_letters(kafka: KafkaSettings, flt: ReplayFilter, timeout: float = 10.0) -> Iterator[DeadLetter]:
    """Every matching DLQ record up to the end offsets at call time."""
    topic = TopicNames(kafka.topic_prefix).dlq
    consumer = Consumer({"bootstrap.servers": kafka.bootstrap, "group.id": f"exmail-replay-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 3})
    try:
        md = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if md is None or md.error is not None or not md.partitions:
            return
        parts = sorted(md.partitions)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in parts}
        if flt.since is not None:
            ms = int(flt.since.timestamp() * 1000)
            start = consumer.offsets_for_times([TopicPartition(topic, p, ms) for p in parts], timeout=timeout)
            assign = [TopicPartition(topic, tp.partition, tp.offset if tp.offset >= 0 else ends[tp.partition])
                      for tp in start]
        else:
            assign = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts]
        pending = {p for p in parts if ends[p] > 0}
        consumer.assign(assign)
        while pending:
            msg = consumer.poll(timeout)
            if msg is None:
                break
            if msg.error():
                continue
            p, off = msg.partition() or 0, msg.offset() or 0
            if off >= ends[p] - 1:
                pending.discard(p)
            if off >= ends[p]:
                continue
            try:
                env = Envelope.decode(msg.value() or b"")
            except EnvelopeError:
                continue
            if flt.matches(env):
                yield DeadLetter(env, p, off)
    finally:
        consumer.close()


@dataclass(slots=True)
class ReplayResult:
    matched: int = 0
    replayed: int = 0
    skipped: int = 0
    masked: int = 0  # refused: the payload has masked credentials or links
    by_topic: dict[str, int] | None = None


def replay(kafka: KafkaSettings, letters: list[DeadLetter], *, dry_run: bool) -> ReplayResult:
    """Produce each letter's payload to its origin topic (key preserved); waits for every delivery report."""
    result = ReplayResult(matched=len(letters), by_topic={})
    records: list[tuple[str, bytes | None, bytes]] = []
    for dl in letters:
        topic, payload = dl.origin_topic, dl.payload_bytes()
        if not topic or payload is None:
            result.skipped += 1
            continue
        if is_masked(dl.envelope.data.get("payload")):
            result.masked += 1
            continue
        key = (dl.envelope.data.get("origin") or {}).get("key")
        records.append((topic, key.encode() if isinstance(key, str) else None, payload))
        assert result.by_topic is not None
        result.by_topic[topic] = result.by_topic.get(topic, 0) + 1
    if dry_run or not records:
        return result

    async def _send() -> int:
        producer = EventProducer(kafka)
        try:
            return len(await producer.send_many(records))
        finally:
            producer.close()

    result.replayed = asyncio.run(_send())
    return result


def describe(dl: DeadLetter) -> dict[str, Any]:
    d = dl.envelope.data
    return {"dlq_offset": f"{dl.partition}:{dl.offset}", "id": dl.envelope.id, "stage": d.get("stage"),
            "origin": d.get("origin"), "reason": d.get("reason")}
