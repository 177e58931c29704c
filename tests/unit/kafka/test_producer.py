"""EventProducer: a record counts as delivered only once the broker acknowledged it. send/send_many return where
records landed (one key, one partition, in order); send_batch reports per record, in input order, and a broker
that never answers turns into DeliveryErrors, not a hang or a silent loss; a closed producer refuses records."""

from __future__ import annotations

from collections import defaultdict

import pytest

from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.kafka import DeliveryError, EventProducer, KafkaSettings
from pipeline.kafka.producer import Delivered
from pipeline.kafka.reader import scan

from .conftest import MockKafka


def _settings(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(bootstrap=bootstrap, linger_ms=0, compression="none")


def _read(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    out: list[tuple[bytes | None, bytes | None]] = []
    scan(bootstrap, topic, lambda k, v: out.append((k, v)))
    return out


async def test_send_and_send_many_report_where_each_record_landed(mock_kafka: MockKafka) -> None:
    producer = EventProducer(_settings(mock_kafka.bootstrap))
    try:
        first = await producer.send("t", b"v0", "user-a")
        assert first == Delivered("t", first.partition, 0)
        landed = await producer.send_many([("t", "user-a", b"v%d" % i) for i in range(1, 5)]
                                          + [("t", b"user-b", b"w0")])
    finally:
        assert producer.close() == 0
    same_key = landed[:4]
    assert {d.partition for d in same_key} == {first.partition}  # one key, one partition
    assert [d.offset for d in same_key] == [1, 2, 3, 4]  # in the order sent
    assert sorted(_read(mock_kafka.bootstrap, "t")) == sorted(
        [(b"user-a", b"v%d" % i) for i in range(5)] + [(b"user-b", b"w0")])


async def test_send_batch_acknowledges_every_record_and_encodes_envelopes(mock_kafka: MockKafka) -> None:
    env = Envelope(schema="exmail.event/1", id=fingerprint("e1"), corp_id="wm1", source="mail_log",
                   occurred_at=utc_iso(1_764_000_000), data={"x": 1})
    producer = EventProducer(_settings(mock_kafka.bootstrap))
    try:
        outcomes = await producer.send_batch([("t", f"k{i}", b"v%d" % i) for i in range(200)] + [("e", None, env)])
    finally:
        producer.close()
    assert outcomes == [None] * 201
    by_key: dict[bytes | None, list[bytes | None]] = defaultdict(list)
    for key, value in _read(mock_kafka.bootstrap, "t"):
        by_key[key].append(value)
    assert len(by_key) == 200 and all(len(v) == 1 for v in by_key.values())
    assert _read(mock_kafka.bootstrap, "e") == [(None, env.encode())]


async def test_a_broker_that_never_answers_gives_a_delivery_error_per_record() -> None:
    producer = EventProducer(_settings("127.0.0.1:1"), **{"message.timeout.ms": 300, "log_level": 0})
    try:
        outcomes = await producer.send_batch([("t", b"k", b"a"), ("t", b"k", b"b")])
        assert [type(o) for o in outcomes] == [DeliveryError, DeliveryError]
        assert all(o is not None and o.topic == "t" and "delivery to t failed" in str(o) for o in outcomes)
        with pytest.raises(DeliveryError):
            await producer.send("t", b"c", b"k")
    finally:
        producer.close(timeout=1)


async def test_a_closed_producer_refuses_records(mock_kafka: MockKafka) -> None:
    producer = EventProducer(_settings(mock_kafka.bootstrap))
    assert producer.close() == 0
    assert producer.close() == 0
    with pytest.raises(RuntimeError, match="closed"):
        await producer.send("t", b"v")
    with pytest.raises(RuntimeError, match="closed"):
        await producer.send_batch([("t", None, b"v")])
