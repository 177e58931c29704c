"""Consumer lag of the worker's own group (high watermark minus committed offset, summed per topic), exported
as exmail_consumer_lag_records so dashboards and the ConsumerLagGrowing alert see a worker falling behind."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)


def group_lag(bootstrap: str, group: str, topics: list[str], timeout: float = 10.0) -> dict[str, int]:
    """{topic: records not yet committed by `group`}; partitions the group never committed count from 0."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{group}-lag-probe",
                         "enable.auto.commit": False})
    try:
        md = consumer.list_topics(timeout=timeout).topics
        tps = [TopicPartition(t, p) for t in topics if t in md for p in md[t].partitions]
        if not tps:
            return {}
        fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)],
                                                request_timeout=timeout)[group]
        committed = {(tp.topic, tp.partition): tp.offset for tp in fut.result().topic_partitions}
        lag: dict[str, int] = {}
        for tp in tps:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            done = committed.get((tp.topic, tp.partition), -1)
            start = done if done >= 0 else low
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - start)
        return lag
    finally:
        consumer.close()


async def report_lag_forever(bootstrap: str, group: str, topics: Callable[[], list[str]],
                             interval: float = 15.0) -> None:
    """`topics()` gives the topics the worker consumes now (its assignment, changelogs excluded)."""
    while True:
        try:
            for topic, value in (await asyncio.to_thread(group_lag, bootstrap, group, topics())).items():
                CONSUMER_LAG.labels(group, topic).set(value)
        except Exception as exc:  # the broker being away is not the worker's problem to crash on
            log.warning("consumer lag probe failed: %s", exc)
        await asyncio.sleep(interval)
