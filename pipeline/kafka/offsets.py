"""Where a consumer group stands: committed offsets and watermarks per partition, read from the broker.

Never-subscribed consumers (they join no group) serve a process for its whole life: building a librdkafka
client per probe leaked admin handles and threads (issue 17), and a broker outage made every new client log its
own connection errors. Callers use an OffsetProbe from one thread at a time.

Committed offsets come from `Consumer.committed()` on a consumer whose group.id is the group asked about (an
OffsetFetch; it never subscribes, so it never joins or disturbs that group), not from
AdminClient.list_consumer_group_offsets: librdkafka's admin coordinator requests abort the whole process with
"rd_kafka_enq_once_del_source_return: Assertion `eonce->refcnt > 0' failed" when the connection drops under
them (librdkafka issues #3663, #4605; fix proposed in PR #5397). That abort was the worker's death right after a
broker restart (issue 17: exit -11/-6, found with faulthandler and a core dump).
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

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
        # metadata refreshed every 30 s (librdkafka's default is 5 min): partitions added to a topic are probed
        # within 30 s instead of failing with _UNKNOWN_PARTITION, which left the lag and stall watch blind
        self._common: dict[str, str | int | float | bool] = {"bootstrap.servers": bootstrap, "log_level": log_level,
                                                             "enable.auto.commit": False,
                                                             "topic.metadata.refresh.interval.ms": 30_000}
        self._consumer = Consumer({**self._common, "group.id": "exmail-offset-probe"})
        self._by_group: dict[str, Consumer] = {}
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            for consumer in [self._consumer, *self._by_group.values()]:
                consumer.close()
            self._by_group.clear()

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
        reader = self._by_group.get(group)
        if reader is None:  # one per watched group (a worker has a handful), kept for the process's life
            reader = self._by_group[group] = Consumer({**self._common, "group.id": group})
        found = reader.committed([TopicPartition(tp.topic, tp.partition) for tp in tps], timeout=self.timeout)
        return {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else -1 for tp in found}

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
