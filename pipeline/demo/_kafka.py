"""What the broker says about one demo run's topics: record counts (watermarks), the worker group's lag, and
the records of the small topics (events ids, alerts, deliveries, dead letters) read to the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient


class TopicProbe:
    """One consumer (never subscribed, so it joins no group) and one admin client for the whole run."""

    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "exmail-demo-probe",
                                   "enable.auto.commit": False, "log_level": 3})
        self._admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})

    def close(self) -> None:
        self._consumer.close()

    def _partitions(self, topics: list[str]) -> list[TopicPartition]:
        md = self._consumer.list_topics(timeout=self.timeout).topics
        return [TopicPartition(t, p) for t in topics if t in md for p in sorted(md[t].partitions)]

    def _watermarks(self, tps: list[TopicPartition]) -> dict[tuple[str, int], tuple[int, int]]:
        return {(tp.topic, tp.partition): self._consumer.get_watermark_offsets(tp, timeout=self.timeout)
                for tp in tps}

    def counts(self, topics: list[str]) -> dict[str, int]:
        """Records per topic (high minus low watermark, summed over partitions); 0 for a missing topic."""
        out = dict.fromkeys(topics, 0)
        for (topic, _), (low, high) in self._watermarks(self._partitions(topics)).items():
            out[topic] += max(0, high - low)
        return out

    def lag(self, group: str, topics: list[str]) -> dict[str, int]:
        """Records of each topic the group has not committed yet (a never-committed partition counts whole)."""
        tps = self._partitions(topics)
        if not tps:
            return {}
        fut = self._admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)],
                                                      request_timeout=self.timeout)[group]
        committed = {(tp.topic, tp.partition): tp.offset for tp in fut.result().topic_partitions}
        out = dict.fromkeys(topics, 0)
        for key, (low, high) in self._watermarks(tps).items():
            done = committed.get(key, -1)
            out[key[0]] += max(0, high - (done if done >= 0 else low))
        return out

    def read_all(self, topic: str) -> Iterator[tuple[bytes | None, bytes | None]]:
        """(key, value) of every record now in `topic`, partition by partition."""
        tps = self._partitions([topic])
        marks = self._watermarks(tps)
        pending = {key: low for key, (low, high) in marks.items() if high > low}
        if not pending:
            return
        reader = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "exmail-demo-reader",
                           "enable.auto.commit": False, "enable.partition.eof": False, "log_level": 3})
        try:
            reader.assign([TopicPartition(t, p, low) for (t, p), low in pending.items()])
            ends = {key: marks[key][1] for key in pending}
            idle = 0
            while pending and idle < 20:
                batch = reader.consume(1000, timeout=0.5)
                idle = idle + 1 if not batch else 0
                for msg in batch:
                    if msg.error() is not None:
                        raise KafkaException(msg.error())
                    key = (msg.topic(), msg.partition())
                    offset = msg.offset()
                    if key not in pending or offset is None:
                        continue
                    yield msg.key(), msg.value()
                    if offset + 1 >= ends[key]:
                        pending.pop(key)
            if pending:
                raise TimeoutError(f"{topic}: could not read to the end of {sorted(pending)}")
        finally:
            reader.close()


def decode_values(records: Iterator[tuple[bytes | None, bytes | None]]) -> Iterator[dict[str, Any]]:
    for _, value in records:
        if value:
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                continue
            if isinstance(obj, dict):
                yield obj
