"""The real broker is real: idempotent producer (acks=all) -> consumer group with manual commits."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.topics import TOPICS, TopicSpec

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def _envs(n: int) -> list[Envelope]:
    return [Envelope(schema="test/1", id=fingerprint("t", i), corp_id="wmtest", source="test",
                     occurred_at=utc_iso(), data={"n": i}) for i in range(n)]


def test_broker_answers_metadata_and_is_apache_kafka_kraft(kafka_bootstrap: str) -> None:
    md = AdminClient({"bootstrap.servers": kafka_bootstrap}).list_topics(timeout=10)
    assert len(md.brokers) == 1
    broker = next(iter(md.brokers.values()))
    assert broker.host == "127.0.0.1"
    status = subprocess.run([str(ROOT / "ops/kafka/kafka.sh"), "status"], capture_output=True, text=True)
    assert status.returncode == 0 and "running" in status.stdout


def test_ensure_topics_creates_every_pipeline_topic_with_compaction_for_state(kafka_bootstrap: str,
                                                                              topic_prefix: str) -> None:
    created = ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    assert sorted(created) == sorted(topic_prefix + s.name for s in TOPICS)
    assert ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3) == []
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    names = TopicNames(topic_prefix)
    md = admin.list_topics(timeout=10)
    assert len(md.topics[names.raw("mail_log")].partitions) == 3
    assert len(md.topics[names.state("cursors")].partitions) == 1
    from confluent_kafka.admin import ConfigResource

    res = ConfigResource(ConfigResource.Type.TOPIC, names.state("cursors"))
    cfg = admin.describe_configs([res])[res].result()
    assert cfg["cleanup.policy"].value == "compact"


def test_idempotent_producer_then_consumer_group_with_manual_commit(kafka_bootstrap: str,
                                                                     topic_prefix: str) -> None:
    topic = topic_prefix + "roundtrip"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "k", partitions=3),))
    settings = KafkaSettings(bootstrap=kafka_bootstrap)
    envs = _envs(500)

    async def produce() -> int:
        producer = EventProducer(settings)
        delivered = await producer.send_many((topic, record_key("wmtest", f"u{i % 7}"), e)
                                             for i, e in enumerate(envs))
        assert producer.close() == 0
        return len(delivered)

    assert asyncio.run(produce()) == 500
    group = topic_prefix + "g"
    conf = {"bootstrap.servers": kafka_bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "session.timeout.ms": 6000}
    consumer = Consumer(conf)
    consumer.subscribe([topic])
    got: list[Envelope] = []
    deadline = time.monotonic() + 30
    while len(got) < 300 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append(Envelope.decode(msg.value() or b""))
    consumer.commit(asynchronous=False)
    consumer.close()
    # a second member of the same group resumes after the committed offsets: nothing twice, nothing lost
    consumer = Consumer(conf)
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30
    while len(got) < 500 and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.append(Envelope.decode(msg.value() or b""))
    consumer.commit(asynchronous=False)
    committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
    consumer.close()
    ids = [e.id for e in got]
    assert len(ids) == 500 and set(ids) == {e.id for e in envs}
    assert sum(tp.offset for tp in committed) == 500


def test_producer_reports_delivery_failure_for_unknown_topic_without_autocreate(kafka_bootstrap: str) -> None:
    settings = KafkaSettings(bootstrap=kafka_bootstrap)

    async def produce() -> None:
        producer = EventProducer(settings, **{"message.timeout.ms": 3000, "allow.auto.create.topics": False})
        try:
            await producer.send("bad topic name with spaces", b"{}")
        finally:
            producer.close(timeout=5)

    with pytest.raises(Exception) as exc:
        asyncio.run(produce())
    assert "bad topic name" in str(exc.value) or "Invalid" in str(exc.value) or "Unknown" in str(exc.value)


def test_send_batch_reports_each_refused_record_in_place_and_delivers_the_rest(kafka_bootstrap: str,
                                                                               topic_prefix: str) -> None:
    """send_batch's error-only delivery reports: the refused record is named at its index, the others (no
    report) really are in the topic."""
    topic = topic_prefix + "bulk"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "k", partitions=3),))
    settings = KafkaSettings(bootstrap=kafka_bootstrap)
    values = [f"v{i}".encode() for i in range(200)]

    async def produce() -> list[object]:
        producer = EventProducer(settings, **{"message.timeout.ms": 3000})
        try:
            records = [(topic, f"k{i}".encode(), v) for i, v in enumerate(values)]
            records.insert(57, ("bad topic name with spaces", b"k", b"refused"))
            return list(await producer.send_batch(records))
        finally:
            assert producer.close(timeout=5) == 0

    out = asyncio.run(produce())
    assert [i for i, o in enumerate(out) if o is not None] == [57]
    assert "bad topic name" in str(out[57])
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic_prefix + "bulk-check",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    got: set[bytes] = set()
    deadline = time.monotonic() + 30
    while len(got) < len(values) and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error():
            got.add(msg.value() or b"")
    consumer.close()
    assert got == set(values)
