"""Where a consumer group stands: committed offsets and watermarks per partition, read from the broker.

One admin client and one never-subscribed consumer (it joins no group) serve a process for its whole life:
building a librdkafka client per probe leaked admin handles and threads (issue 17), and a broker outage made
every new client log its own connection errors. Callers use an OffsetProbe from one thread at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

TP = tuple[str, int]


@dataclass(frozen=True)
class PartitionOffsets:
    """One partition of one group: `committed` is -1 when the group never committed it."""

    committed: int
    low: int
    high: int

    @property
    def lag(self) -> int:
        """Records the group has not committed yet (a never-committed partition counts from its low mark)."""
        return max(0, self.high - (self.committed if self.committed >= 0 else self.low))


class OffsetProbe:
    """Committed offsets and watermarks over long-lived clients; `close()` once at the end."""

    def __init__(self, bootstrap: str, timeout: float = 10.0, *, log_level: int = 0) -> None:
        # log_level 0: the probe's own connection errors surface as exceptions to the caller, which reports
        # them once per state change, instead of librdkafka printing a line per reconnect attempt
        self.timeout = timeout
        common: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap, "log_level": log_level}
        self._consumer = Consumer({**common, "group.id": "exmail-offset-probe", "enable.auto.commit": False})
        self._admin = AdminClient(common)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def partitions(self, topics: list[str]) -> list[TopicPartition]:
        """Every partition of the topics that exist (a missing topic has none)."""
        md = self._consumer.list_topics(timeout=self.timeout).topics
        return [TopicPartition(t, p) for t in topics if t in md for p in sorted(md[t].partitions)]

    def watermarks(self, tps: list[TopicPartition]) -> dict[TP, tuple[int, int]]:
        return {(tp.topic, tp.partition): self._consumer.get_watermark_offsets(tp, timeout=self.timeout)
                for tp in tps}

    def committed(self, group: str, tps: list[TopicPartition]) -> dict[TP, int]:
        if not tps:
            return {}
        fut = self._admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group, tps)],
                                                      request_timeout=self.timeout)[group]
        return {(tp.topic, tp.partition): tp.offset for tp in fut.result(timeout=self.timeout).topic_partitions}

    def group_offsets(self, group: str, tps: list[TopicPartition]) -> dict[TP, PartitionOffsets]:
        """Committed offset and watermarks of each given partition for `group`."""
        committed = self.committed(group, tps)
        return {key: PartitionOffsets(committed.get(key, -1), low, high)
                for key, (low, high) in self.watermarks(tps).items()}

    def group_lag(self, group: str, topics: list[str]) -> dict[str, int]:
        """{topic: records not yet committed by `group`}, summed over partitions; missing topics are left out."""
        out: dict[str, int] = {}
        for (topic, _), offsets in self.group_offsets(group, self.partitions(topics)).items():
            out[topic] = out.get(topic, 0) + offsets.lag
        return out

    def counts(self, topics: list[str]) -> dict[str, int]:
        """Records per topic (high minus low watermark, summed over partitions); 0 for a missing topic."""
        out = dict.fromkeys(topics, 0)
        for (topic, _), (low, high) in self.watermarks(self.partitions(topics)).items():
            out[topic] += max(0, high - low)
        return out
