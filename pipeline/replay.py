"""`pipeline replay`: re-inject dead letters into the topic they came from, after the cause was fixed.

Reads `exmail.dlq` from the start (or a time) up to the end offsets seen when it starts, so a replay that fails
again (and is dead-lettered again) is never picked up by the same run.

A payload with a masked value ("***" where a credential, signature or SSO link was) is never resent: it would
deliver a dead link or a broken request. Undelivered notifications are dead-lettered as the routing record
they came from, which holds no link; replaying that makes the delivery stage sign fresh SSO links.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from confluent_kafka import Message

from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.kafka.reader import offsets_after, scan_messages
from pipeline.secrets import is_masked

log = logging.getLogger(__name__)


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


def read_dead_letters(kafka: KafkaSettings, flt: ReplayFilter) -> list[DeadLetter]:
    """Every matching DLQ record up to the end offsets at call time (from `flt.since` on, when given).

    The scan reads to the end or raises (a broker that stops answering is an error, not a shorter list); a DLQ
    record that is not an envelope cannot match a filter nor be replayed, and is counted in a warning."""
    topic = TopicNames(kafka.topic_prefix).dlq
    start = None
    if flt.since is not None:
        start = offsets_after(kafka.bootstrap, topic, int(flt.since.timestamp() * 1000))
    letters: list[DeadLetter] = []
    unreadable: list[str] = []

    def take(msg: Message) -> None:
        try:
            env = Envelope.decode(msg.value() or b"")
        except EnvelopeError:
            unreadable.append(f"{msg.partition()}:{msg.offset()}")
            return
        if flt.matches(env):
            letters.append(DeadLetter(env, msg.partition() or 0, msg.offset() or 0))

    scan_messages(kafka.bootstrap, topic, take, start)
    if unreadable:
        log.warning("%s: %d record(s) are not envelopes and were skipped (partition:offset %s)", topic,
                    len(unreadable), ", ".join(unreadable[:10]) + (" ..." if len(unreadable) > 10 else ""))
    return letters


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
