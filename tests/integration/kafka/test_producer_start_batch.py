"""EventProducer.start_batch against the real broker: batches are produced at once, several in flight; each
future resolves in order with every record's outcome in place, a failure reported only for the batch that
holds it, and the other records really are in the topic."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import Consumer

from pipeline.kafka import DeliveryError, EventProducer, KafkaSettings, ensure_topics
from pipeline.kafka.topics import TopicSpec

MAX_BYTES = 5000


def test_start_batch_pipelines_batches_and_settles_them_in_order(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = topic_prefix + "started"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "k", partitions=3),))
    batches = [[(topic, f"k{b}-{i}".encode(), f"v{b}-{i}".encode()) for i in range(500)] for b in range(3)]
    batches[1].insert(100, (topic, b"big", b"x" * (MAX_BYTES * 2)))  # refused by librdkafka in produce()
    batches[1].insert(300, ("bad topic name with spaces", b"k", b"v0-7"))  # an error report, same value as batch 0's
    settled: list[int] = []

    async def produce() -> list[list[DeliveryError | None]]:
        producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap),
                                 **{"message.max.bytes": MAX_BYTES, "message.timeout.ms": 3000})
        try:
            futures = [producer.start_batch(b) for b in batches]  # no await between: all three in flight
            assert len(producer._bulk.producer) > 0, "produced before the caller awaited"
            for i, f in enumerate(futures):
                f.add_done_callback(lambda _, i=i: settled.append(i))
            return [list(await f) for f in futures]
        finally:
            assert producer.close(timeout=5) == 0

    out = asyncio.run(produce())
    assert settled == [0, 1, 2]
    assert [[i for i, o in enumerate(b) if o is not None] for b in out] == [[], [100, 300], []]
    assert "bad topic name" in str(out[1][300])
    expected = {(k, v) for b in batches for t, k, v in b if t == topic and k != b"big"}
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic_prefix + "started-check",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got: set[tuple[bytes, bytes]] = set()
    deadline = time.monotonic() + 30
    while len(got) < len(expected) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.add((msg.key() or b"", msg.value() or b""))
    consumer.close()
    assert got == expected
