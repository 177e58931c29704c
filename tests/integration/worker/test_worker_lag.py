"""The consumer-lag probe reads the real broker: uncommitted records count, committed ones do not."""

from __future__ import annotations

import asyncio

import pytest
from confluent_kafka import Consumer, TopicPartition

from pipeline.kafka import EventProducer, KafkaSettings, ensure_topics
from pipeline.kafka.topics import TopicSpec
from pipeline.worker.lag import group_lag

pytestmark = pytest.mark.integration


def test_group_lag_counts_records_past_the_committed_offsets(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic, group = topic_prefix + "lag", topic_prefix + "group"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "k", partitions=2),))

    async def produce() -> None:
        p = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap))
        await p.send_many((topic, f"k{i}", b"{}") for i in range(40))
        p.close()

    asyncio.run(produce())
    assert group_lag(kafka_bootstrap, group, [topic]) == {topic: 40}
    c = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    lows = {p: c.get_watermark_offsets(TopicPartition(topic, p))[1] for p in (0, 1)}
    c.commit(offsets=[TopicPartition(topic, 0, lows[0])], asynchronous=False)
    c.close()
    assert group_lag(kafka_bootstrap, group, [topic]) == {topic: lows[1]}
    assert group_lag(kafka_bootstrap, group, ["no-such-topic-" + topic_prefix]) == {}
