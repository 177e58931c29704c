"""EventProducer.send_values / send_batch against the real broker: every record gets its outcome in place, a
record librdkafka refuses before queueing it is reported at its index (not raised mid-batch, which left the
records before it produced but unaccounted), and the others really are in the topic."""

from __future__ import annotations

import asyncio
import time

from confluent_kafka import Consumer

from pipeline.envelope import Envelope, utc_iso
from pipeline.kafka import DeliveryError, EventProducer, KafkaSettings, ensure_topics
from pipeline.kafka.topics import TopicSpec

MAX_BYTES = 5000


def _read_all(bootstrap: str, topic: str, group: str, expected: int) -> list[tuple[bytes, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    consumer.subscribe([topic])
    got: list[tuple[bytes, bytes]] = []
    deadline = time.monotonic() + 30
    while len(got) < expected and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append((msg.key() or b"", msg.value() or b""))
    consumer.close()
    return got


def test_send_values_and_send_batch_report_refused_records_in_place(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = topic_prefix + "values"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "k", partitions=3),))
    keys = [f"k{i}".encode() for i in range(3000)]
    values = [f"v{i}".encode() for i in range(3000)]
    values[1234] = b"x" * (MAX_BYTES * 2)  # larger than message.max.bytes: librdkafka refuses it in produce()

    async def produce() -> tuple[list[DeliveryError | None], list[DeliveryError | None]]:
        producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap), **{"message.max.bytes": MAX_BYTES})
        try:
            by_values = list(await producer.send_values(topic, keys, values))
            batch = [(topic, b"b" + k, v) for k, v in zip(keys, values, strict=True)]
            by_batch = list(await producer.send_batch(batch))
            return by_values, by_batch
        finally:
            assert producer.close(timeout=5) == 0

    by_values, by_batch = asyncio.run(produce())
    for out in (by_values, by_batch):
        assert [i for i, o in enumerate(out) if o is not None] == [1234]
        assert "too large" in str(out[1234]).lower() or "size" in str(out[1234]).lower()
    got = _read_all(kafka_bootstrap, topic, topic_prefix + "values-check", 2 * 2999)
    expected = {(k, v) for i, (k, v) in enumerate(zip(keys, values, strict=True)) if i != 1234}
    assert {g for g in got if not g[0].startswith(b"b")} == expected
    assert {(k[1:], v) for k, v in got if k.startswith(b"b")} == expected
    assert len(got) == 2 * 2999  # each record once per call


def test_send_batch_names_a_refused_envelope_by_its_index(kafka_bootstrap: str, topic_prefix: str) -> None:
    """Envelopes encoded inside send_batch (kept as envelopes, not bytes): a report still names the refused
    one at its index (its twin on the good topic is delivered), and the rest are delivered."""
    topic = topic_prefix + "envelopes"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "k", partitions=3),))
    envelopes = [Envelope(schema="exmail.raw.mail_log/1", id=f"{i:032x}", corp_id="wwcorp", source="test",
                          occurred_at=utc_iso(1_700_000_000 + i), data={"record": {"n": i}}) for i in range(300)]

    async def produce() -> list[DeliveryError | None]:
        producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap), **{"message.timeout.ms": 3000})
        try:
            records: list[tuple[str, bytes | str | None, bytes | Envelope]] = [
                (topic, f"k{i}".encode(), e) for i, e in enumerate(envelopes)]
            records.insert(77, ("bad topic name with spaces", b"k", envelopes[5]))
            return list(await producer.send_batch(records))
        finally:
            assert producer.close(timeout=5) == 0

    out = asyncio.run(produce())
    assert [i for i, o in enumerate(out) if o is not None] == [77]
    got = _read_all(kafka_bootstrap, topic, topic_prefix + "envelopes-check", 300)
    assert {v for _, v in got} == {e.encode() for e in envelopes}
