"""pipeline/kafka/reader.py against the real broker: a TopicTail (and normalize's directory copy built on it)
follows a state topic that is only created after the process started."""

from __future__ import annotations

import asyncio
import time

import orjson
from confluent_kafka import Producer

from pipeline.kafka import TopicSpec, ensure_topics
from pipeline.kafka.reader import KafkaReader, TopicTail, scan
from pipeline.transforms.normalize.directory_copy import DirectoryFeed


def _produce(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "log_level": 3})
    for key, value in records:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def _poll_until(tail: TopicTail, want: int, seconds: float = 30.0) -> list[tuple[bytes | None, bytes | None]]:
    got: list[tuple[bytes | None, bytes | None]] = []
    deadline = time.monotonic() + seconds
    while len(got) < want and time.monotonic() < deadline:
        got += tail.poll()
        time.sleep(0.1)
    return got


def test_tail_follows_a_topic_created_after_its_scan(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}exmail.state.late"
    result = scan(kafka_bootstrap, topic, lambda k, v: None)  # the topic does not exist yet
    assert result.end == {}
    tail = TopicTail(kafka_bootstrap, topic, result.end, recheck_seconds=0.2)
    try:
        assert tail.poll() == []
        ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "key", partitions=1),))
        _produce(kafka_bootstrap, topic, [(b"a", b"1"), (b"b", b"2")])
        assert _poll_until(tail, 2) == [(b"a", b"1"), (b"b", b"2")]
    finally:
        tail.close()


def test_directory_copy_follows_a_directory_topic_created_later(kafka_bootstrap: str, topic_prefix: str) -> None:
    """The bug this fixes: a worker started before the first directory poll never saw any user."""
    topic = f"{topic_prefix}exmail.state.directory"
    feed = DirectoryFeed(KafkaReader(kafka_bootstrap), kafka_bootstrap, topic, recheck_seconds=0.2)
    asyncio.run(feed.load())
    try:
        ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "key", partitions=1),))
        user = {"userid": "Ann@x.com", "name": "Ann", "department": [1], "enable": 1}
        _produce(kafka_bootstrap, topic, [(b"wwcorp/user/ann@x.com", orjson.dumps(user))])
        deadline = time.monotonic() + 30
        while feed.copy.user("wwcorp", "ann@x.com") is None and time.monotonic() < deadline:
            feed.catch_up()
            time.sleep(0.1)
        entry = feed.copy.user("wwcorp", "Ann@x.com")
        assert entry is not None and entry["name"] == "Ann"
    finally:
        feed.close()
