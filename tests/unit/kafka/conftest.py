"""An in-process Kafka for unit tests: librdkafka's mock cluster (`test.mock.num.brokers`), reached over TCP on
localhost like a broker, so the code under test uses its own real clients. Topics are created on first use with
four partitions; the cluster lives as long as the client that owns it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

MOCK_PARTITIONS = 4  # librdkafka's mock cluster creates every topic with four partitions


class MockKafka:
    """The mock cluster's bootstrap address and small helpers to put records in and read commits back."""

    def __init__(self) -> None:
        self._owner = Producer({"test.mock.num.brokers": 1, "log_level": 0})
        brokers = self._owner.list_topics(timeout=10).brokers.values()
        self.bootstrap = ",".join(f"{b.host}:{b.port}" for b in brokers)
        self._producer = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 0, "log_level": 0})

    def produce(self, topic: str, records: Iterable[tuple[bytes | None, bytes | None]], partition: int = 0) -> None:
        """Append (key, value) records to one partition, in order, and wait until they are stored."""
        for key, value in records:
            self._producer.produce(topic, key=key, value=value, partition=partition)
        assert self._producer.flush(10) == 0, "the mock cluster did not take every record"

    def commit(self, group: str, offsets: dict[tuple[str, int], int]) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "log_level": 0})
        try:
            consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False)
        finally:
            consumer.close()

    def committed(self, group: str, topic: str, partitions: int = MOCK_PARTITIONS) -> dict[int, int]:
        """partition -> committed offset of `group` (-1 when it never committed that partition)."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": group, "log_level": 0})
        try:
            found = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
            return {tp.partition: tp.offset if tp.offset >= 0 else -1 for tp in found}
        finally:
            consumer.close()

    def close(self) -> None:
        self._producer.flush(5)
        del self._producer
        del self._owner


@pytest.fixture
def mock_kafka() -> Iterator[MockKafka]:
    cluster = MockKafka()
    try:
        yield cluster
    finally:
        cluster.close()
