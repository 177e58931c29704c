"""ConsumerProgress: assigned partitions with their lag, and those without recent progress."""

from __future__ import annotations

from confluent_kafka import TopicPartition

from pipeline.kafka.batch import ConsumerProgress


def test_progress_reports_partitions_with_lag_and_no_recent_progress() -> None:
    progress = ConsumerProgress("audit", "g.audit", ("t.exmail.events",))
    progress._assigned([TopicPartition("t.exmail.events", 0), TopicPartition("t.exmail.events", 1)])
    progress._marks({("t.exmail.events", 0): (10, 50), ("t.exmail.events", 1): (20, 20)})
    now = progress.snapshot()[0].last_progress
    assert progress.stalled(30, now=now + 10) == []
    stuck = progress.stalled(30, now=now + 31)
    assert [(p.partition, p.lag) for p in stuck] == [(0, 40)]  # partition 1 is caught up: not stalled
    progress._committed({("t.exmail.events", 0): 50}, records=40)
    assert progress.stalled(30, now=now + 31) == [] and progress.records == 40
    progress._revoked([TopicPartition("t.exmail.events", 0)])
    assert [p.partition for p in progress.snapshot()] == [1]
