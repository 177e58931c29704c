"""The delivery service's partitions taken while the delivery log is read."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from confluent_kafka import TopicPartition

from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.transforms.routing import parse_routing_config
from pipeline.transforms.routing.dispatcher import Dispatcher
from pipeline.transforms.rules.alert import Alert
from pipeline.worker import delivery
from pipeline.worker._backlog import Entry
from pipeline.worker.delivery import DeliveryService
from tests.unit._kafka_fakes import FakeMessage, RebalanceConsumer

TOPIC = "t.exmail.notifications"


class _Sink:
    concurrency = 1


def _notifications(n: int) -> list[bytes]:
    routing = parse_routing_config({"route": {"receiver": "hook", "group_by": ["group"], "group_wait": "0s"},
                                    "receivers": [{"name": "hook"}]})
    dispatcher, now = Dispatcher(routing), time.time()
    return [note.encode() for i in range(n)
            for note in dispatcher.ingest(Alert(labels={"alertname": "A", "group": f"g{i}"}, annotations={},
                                                starts_at=now, ends_at=now + 60, rule="a"), now)]


def test_an_assigned_partition_is_not_paused_and_its_early_notifications_wait_for_the_delivery_log(
        monkeypatch: Any) -> None:
    """Nothing is paused in the assignment callback (librdkafka#2190: such a pause can keep the partition's
    fetcher from ever starting); notifications that arrive before the delivery log is read again are held (the
    partition paused then) and queued, in order, before anything newer once it is read. A partition revoked
    while it is read drops what it held, uncommitted, and its pause is undone."""
    monkeypatch.setattr(delivery, "read_compacted", lambda bootstrap, topic: {})
    service = DeliveryService(kafka=KafkaSettings(bootstrap="127.0.0.1:1"), names=TopicNames("t."), group_id="g",
                              sinks={"hook": _Sink()}, languages={"hook": "en"},  # type: ignore[dict-item]
                              producer=None, alert_key=lambda a: b"")  # type: ignore[arg-type]
    consumer = RebalanceConsumer()
    service._consumer = consumer  # type: ignore[assignment]
    sent: list[int] = []

    async def process(receiver: str, sink: Any, entry: Entry) -> bool:
        sent.append(entry.event.offset)
        return True

    service._process = process  # type: ignore[method-assign]
    records = [FakeMessage(TOPIC, value, partition=0, offset=i) for i, value in enumerate(_notifications(4))]

    async def run() -> None:
        service._on_assign(consumer, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])  # type: ignore[arg-type]
        assert consumer.calls == [("assign", [0, 1])]
        for r in records[:3]:
            service._take(r)  # type: ignore[arg-type]
        assert consumer.calls[1:] == [("pause", [0])] and service.backlogs == {}
        service._take(FakeMessage(TOPIC, records[3].value(), partition=1, offset=0))  # type: ignore[arg-type]
        service._on_lost(consumer, [TopicPartition(TOPIC, 1)])  # type: ignore[arg-type]
        assert consumer.calls[-1] == ("resume", [1]) and 1 not in service._owned
        await asyncio.gather(*service._loads)
        assert consumer.calls[-1] == ("resume", [0])
        service._take(records[3])  # type: ignore[arg-type]
        for _ in range(20):
            await asyncio.sleep(0)
        assert sent == [0, 1, 2, 3]
        for task in service._workers:
            task.cancel()

    asyncio.run(run())


def test_a_full_backlog_pauses_the_fetching_partitions_and_a_lost_one_is_resumed(monkeypatch: Any) -> None:
    """The intake pauses for a full backlog only partitions that have handed over records (a pause must not race
    a fetcher's start); a paused partition that is lost is resumed, or it would never fetch here again."""
    monkeypatch.setattr(delivery, "read_compacted", lambda bootstrap, topic: {})
    monkeypatch.setattr(delivery, "QUEUE_PER_RECEIVER", 2)
    service = DeliveryService(kafka=KafkaSettings(bootstrap="127.0.0.1:1"), names=TopicNames("t."), group_id="g",
                              sinks={"hook": _Sink()}, languages={"hook": "en"},  # type: ignore[dict-item]
                              producer=None, alert_key=lambda a: b"")  # type: ignore[arg-type]
    consumer = RebalanceConsumer()
    service._consumer = consumer  # type: ignore[assignment]
    values = _notifications(2)

    async def run() -> None:
        service._on_assign(consumer, [TopicPartition(TOPIC, 0), TopicPartition(TOPIC, 1)])  # type: ignore[arg-type]
        await asyncio.gather(*service._loads)
        for offset, value in enumerate(values):
            service._take(FakeMessage(TOPIC, value, partition=0, offset=offset))  # type: ignore[arg-type]
        service._flow(consumer)  # type: ignore[arg-type]
        assert consumer.calls[-1] == ("pause", [0]) and service._paused  # 1 has handed over nothing
        service._on_lost(consumer, [TopicPartition(TOPIC, 0)])  # type: ignore[arg-type]
        assert consumer.calls[-1] == ("resume", [0])
        for task in service._workers:
            task.cancel()

    asyncio.run(run())
