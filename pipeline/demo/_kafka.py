"""What the broker says about one demo run's topics: record counts (watermarks), the worker group's lag, and
the records of the small topics (events ids, alerts, deliveries, dead letters) read to the end."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaException, TopicPartition

from pipeline.kafka.offsets import OffsetProbe


class TopicProbe(OffsetProbe):
    """The process-long OffsetProbe of a demo run, plus reading the small topics to their end."""

    def __init__(self, bootstrap: str, timeout: float = 10.0) -> None:
        super().__init__(bootstrap, timeout, log_level=3)
        self.bootstrap = bootstrap

    def lag(self, group: str, topics: list[str]) -> dict[str, int]:
        """Records of each topic the group has not committed yet (a never-committed partition counts whole)."""
        return {**dict.fromkeys(topics, 0), **self.group_lag(group, topics)}

    def read_all(self, topic: str) -> Iterator[tuple[bytes | None, bytes | None]]:
        """(key, value) of every record now in `topic`, partition by partition."""
        tps = self.partitions([topic])
        marks = self.watermarks(tps)
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
