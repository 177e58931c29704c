"""OffsetProbe over long-lived clients: committed offsets of any group without joining it, watermarks, lag and
record counts per topic; PartitionOffsets.lag for committed and never-committed partitions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from confluent_kafka import TopicPartition

from pipeline.kafka.offsets import OffsetProbe, PartitionOffsets

from .conftest import MOCK_PARTITIONS, MockKafka


def test_lag_counts_from_the_commit_or_from_the_low_mark_when_never_committed() -> None:
    assert PartitionOffsets(committed=7, low=0, high=10).lag == 3
    assert PartitionOffsets(committed=-1, low=4, high=10).lag == 6  # retention dropped 0..3: not owed
    assert PartitionOffsets(committed=10, low=0, high=10).lag == 0
    assert PartitionOffsets(committed=12, low=0, high=10).lag == 0  # never negative


@pytest.fixture
def probe(mock_kafka: MockKafka) -> Iterator[OffsetProbe]:
    p = OffsetProbe(mock_kafka.bootstrap, timeout=10)
    try:
        yield p
    finally:
        p.close()


def test_partitions_of_existing_topics_only(mock_kafka: MockKafka, probe: OffsetProbe) -> None:
    mock_kafka.produce("t.a", [(b"k", b"v")])
    tps = probe.partitions(["t.a", "t.missing"])
    assert [(tp.topic, tp.partition) for tp in tps] == [("t.a", p) for p in range(MOCK_PARTITIONS)]


def test_group_offsets_and_lag_per_topic(mock_kafka: MockKafka, probe: OffsetProbe) -> None:
    mock_kafka.produce("t.a", [(b"k", b"%d" % i) for i in range(5)], partition=0)
    mock_kafka.produce("t.a", [(b"k", b"%d" % i) for i in range(3)], partition=1)
    mock_kafka.produce("t.b", [(b"k", b"x")], partition=2)
    mock_kafka.commit("g1", {("t.a", 0): 2})

    offsets = probe.group_offsets("g1", probe.partitions(["t.a"]))
    assert offsets[("t.a", 0)] == PartitionOffsets(committed=2, low=0, high=5)
    assert offsets[("t.a", 1)] == PartitionOffsets(committed=-1, low=0, high=3)
    assert offsets[("t.a", 3)] == PartitionOffsets(committed=-1, low=0, high=0)
    # 3 left on partition 0, 3 never read on partition 1; a missing topic is left out, not reported as 0
    assert probe.group_lag("g1", ["t.a", "t.b", "t.missing"]) == {"t.a": 6, "t.b": 1}
    # another group's commits are its own
    assert probe.group_lag("g2", ["t.a"]) == {"t.a": 8}


def test_commits_are_seen_as_they_move_on_the_same_long_lived_probe(mock_kafka: MockKafka,
                                                                     probe: OffsetProbe) -> None:
    mock_kafka.produce("t.a", [(None, b"v")] * 4)
    tps = [TopicPartition("t.a", 0)]
    assert probe.committed("g", tps) == {("t.a", 0): -1}
    mock_kafka.commit("g", {("t.a", 0): 1})
    assert probe.committed("g", tps) == {("t.a", 0): 1}
    mock_kafka.commit("g", {("t.a", 0): 4})
    assert probe.committed("g", tps) == {("t.a", 0): 4}
    assert probe.committed("g", []) == {}


def test_counts_per_topic_with_zero_for_a_missing_topic(mock_kafka: MockKafka, probe: OffsetProbe) -> None:
    mock_kafka.produce("t.a", [(None, b"v")] * 3, partition=0)
    mock_kafka.produce("t.a", [(None, b"v")] * 2, partition=3)
    assert probe.counts(["t.a", "t.missing"]) == {"t.a": 5, "t.missing": 0}


def test_close_is_idempotent(mock_kafka: MockKafka) -> None:
    p = OffsetProbe(mock_kafka.bootstrap, timeout=10)
    p.committed("g", [TopicPartition("t.a", 0)])
    p.close()
    p.close()
