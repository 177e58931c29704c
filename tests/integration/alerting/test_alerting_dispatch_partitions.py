"""Dispatch shared by two workers over a partitioned exmail.alerts, against the real broker: every group is
notified once, a silence set through one worker mutes alerts on the other's partitions, inhibition holds
across the partition key, and a worker that leaves hands its groups and notification log to the other."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.transforms.routing import SilenceStore, parse_routing_config
from pipeline.transforms.rules.alert import Alert
from pipeline.worker._dispatch import DispatchService

pytestmark = pytest.mark.integration

ROUTING = parse_routing_config({
    "route": {"receiver": "ops", "group_by": ["alertname", "user"], "group_wait": "1s",
              "group_interval": "1s", "repeat_interval": "4h"},
    "receivers": [{"name": "ops"}],
    "inhibit_rules": [{"source_matchers": ["alertname=Src"], "target_matchers": ["alertname=Tgt"],
                       "equal": ["user"]}],
})


def alert(name: str, user: str) -> Alert:
    now = time.time()
    return Alert(labels={"alertname": name, "user": user, "severity": "warning"},
                 annotations={"summary": f"{name} {user}"}, starts_at=now, ends_at=now + 3600, rule="t")


class Notifications:
    """Reads exmail.notifications from the beginning, remembering every record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.records: list[dict[str, Any]] = []
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                                   "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self._consumer.subscribe([topic])

    def poll(self) -> None:
        for msg in self._consumer.consume(500, 0.2):
            if msg.error() is None:
                envelope = orjson.loads(msg.value() or b"{}")
                self.records.append({**envelope["data"], "envelope_id": envelope["id"]})

    def groups(self) -> list[tuple[str, str]]:
        return sorted((r["group_labels"]["alertname"], r["group_labels"]["user"]) for r in self.records)

    def close(self) -> None:
        self._consumer.close()


async def until(predicate: Callable[[], bool], within: float, what: str, step: Callable[[], None] = lambda: None
                ) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        step()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def cluster(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[dict[str, Any]]:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, partitions=6)
    names = TopicNames(topic_prefix)
    producer = EventProducer(kafka)
    services: dict[str, DispatchService] = {}
    tasks: dict[str, asyncio.Task[None]] = {}

    def start(name: str) -> DispatchService:
        service = DispatchService(kafka=kafka, names=names, group_id=f"{topic_prefix}dispatch", routing=ROUTING,
                                  silences=SilenceStore(), producer=producer)
        services[name], tasks[name] = service, asyncio.create_task(service.run())
        return service

    async def stop(name: str) -> None:
        services[name].stop()
        await tasks.pop(name)

    yield {"kafka": kafka, "names": names, "producer": producer, "start": start, "stop": stop,
           "services": services}
    for name in list(tasks):
        await stop(name)
    producer.close()


async def test_two_workers_share_dispatch_with_silences_and_inhibition(cluster: dict[str, Any]) -> None:
    names, producer = cluster["names"], cluster["producer"]
    a, b = cluster["start"]("a"), cluster["start"]("b")
    await until(lambda: bool(a.dispatchers) and bool(b.dispatchers)
                and len(a.dispatchers) + len(b.dispatchers) == 6, 60, "both workers to own partitions")
    assert not set(a.dispatchers) & set(b.dispatchers)

    # A silence set through worker a's store (what its API does) reaches worker b through the topic.
    silence, changes = a.silences.set({"matchers": [{"name": "user", "value": "u3", "isRegex": False}],
                                       "created_by": "test", "comment": "maintenance", "duration": "1h"})
    await producer.send_many([(names.state("silences"), c.key(), c.value()) for c in changes])
    await until(lambda: any(s.id == silence.id for s in b.silences.list()), 30, "the silence on worker b")

    users = [f"u{i}" for i in range(12)]
    sent = [alert("X", u) for u in users] + [alert("Src", "u5"), alert("Tgt", "u5")]
    await producer.send_many([(names.alerts, ROUTING.partition_key(x.labels), x.to_envelope(time.time()))
                              for x in sent])
    partitions = _partitions_of(cluster, sent)
    assert partitions & set(a.dispatchers) and partitions & set(b.dispatchers), "both workers got alerts"

    expected = sorted([("X", u) for u in users if u != "u3"] + [("Src", "u5")])
    seen = Notifications(cluster["kafka"].bootstrap, names.notifications)
    try:
        await until(lambda: len(seen.records) >= len(expected), 60, f"{len(expected)} notifications", seen.poll)
        for _ in range(20):  # two more group intervals: nothing else may arrive
            seen.poll()
        assert seen.groups() == expected  # u3 silenced, Tgt/u5 inhibited by Src/u5, every group once
        assert len({r["envelope_id"] for r in seen.records}) == len(expected)

        # b leaves: a takes its partitions with their groups and notification log, so re-sent alerts of
        # already-notified groups notify nobody, and only a new group does.
        await cluster["stop"]("b")
        await until(lambda: len(a.dispatchers) == 6, 60, "worker a to own every partition")
        again = [alert("X", u) for u in users] + [alert("X", "u99")]
        await producer.send_many([(names.alerts, ROUTING.partition_key(x.labels), x.to_envelope(time.time()))
                                  for x in again])
        await until(lambda: len(seen.records) >= len(expected) + 1, 60, "the new group's notification", seen.poll)
        for _ in range(20):
            seen.poll()
        assert seen.groups() == sorted([*expected, ("X", "u99")])
    finally:
        seen.close()


def _partitions_of(cluster: dict[str, Any], alerts: list[Alert]) -> set[int]:
    """The partitions the producer's murmur2 partitioner put these alerts' keys on (read back from the topic)."""
    names = cluster["names"]
    keys = {ROUTING.partition_key(x.labels) for x in alerts}
    consumer = Consumer({"bootstrap.servers": cluster["kafka"].bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        found: set[int] = set()
        for p in range(6):
            low, high = consumer.get_watermark_offsets(TopicPartition(names.alerts, p), timeout=10)
            if high > low:
                consumer.assign([TopicPartition(names.alerts, p, low)])
                got = 0
                while got < high - low:
                    batch = consumer.consume(1000, 5.0)
                    assert batch, f"could not read back partition {p}"
                    got += len(batch)
                    found.update(p for msg in batch if msg.key() in keys)
        return found
    finally:
        consumer.close()
