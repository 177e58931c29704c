"""pipeline/worker/app.py CoPartitionedChangelog: a table's changelog topic follows its source topic's partition
count, at start and before the first write for a new partition, and faust's producer knows the new partitions
before it is asked to write to one (fakes for the broker and faust's producer; the real thing is
tests/integration/worker/alerting/test_alerting_changelog_growth.py)."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.worker import app as worker_app
from pipeline.worker.app import ChangelogNotReady, CoPartitionedChangelog

SOURCE, CHANGELOG = "p.exmail.events", "p.rules-alerting-rules-changelog"


class Broker:
    """Partition counts at the broker, with grow_topics / partition_counts over them."""

    def __init__(self, counts: dict[str, int], fail: str = "") -> None:
        self.counts, self.fail = counts, fail
        self.grow_requests: list[dict[str, int]] = []

    def partition_counts(self, bootstrap: str, names: Any, timeout: float = 10.0) -> dict[str, int]:
        if self.fail:
            raise RuntimeError(self.fail)
        return {n: self.counts[n] for n in names if n in self.counts}

    def grow_topics(self, bootstrap: str, wanted: dict[str, int], timeout: float = 30.0) -> dict[str, Any]:
        self.grow_requests.append(dict(wanted))
        grown = {t: (self.counts[t], n) for t, n in wanted.items() if t in self.counts and self.counts[t] < n}
        self.counts.update({t: new for t, (_, new) in grown.items()})
        return grown


class ProducerClient:
    """aiokafka's client of faust's producer: the partitions its metadata lists, refreshed from the broker on
    demand (unless `stale`: the broker's metadata does not list the new partitions yet)."""

    def __init__(self, broker: Broker, known: dict[str, int], stale: bool = False) -> None:
        self.broker, self.known, self.stale = broker, dict(known), stale
        self.cluster = SimpleNamespace(partitions_for_topic=self._partitions)
        self.refreshes = 0

    def _partitions(self, topic: str) -> set[int] | None:
        return set(range(self.known[topic])) if topic in self.known else None

    async def add_topic(self, topic: str) -> bool:
        self.known.setdefault(topic, self.broker.counts[topic])
        return True

    async def force_metadata_update(self) -> bool:
        self.refreshes += 1
        if not self.stale:
            self.known.update({t: self.broker.counts[t] for t in self.known if t in self.broker.counts})
        return True


def _guard(monkeypatch: pytest.MonkeyPatch, broker: Broker, client: ProducerClient,
           consumer_sees: int) -> tuple[CoPartitionedChangelog, Any]:
    monkeypatch.setattr(worker_app, "partition_counts", broker.partition_counts)
    monkeypatch.setattr(worker_app, "grow_topics", broker.grow_topics)
    app = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: SimpleNamespace(client=client)),
                          consumer=SimpleNamespace(topic_partitions=lambda t: consumer_sees if t == SOURCE else None))
    table: Any = SimpleNamespace(app=app, partitions=3, _verified_source_topics_for_partitions=set(),
                                 changelog_topic=SimpleNamespace(get_topic_name=lambda: CHANGELOG, partitions=3))
    return CoPartitionedChangelog(table, SOURCE, "x:1"), table


def test_a_partition_the_producer_knows_costs_no_broker_request(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker({SOURCE: 6, CHANGELOG: 6})
    client = ProducerClient(broker, {CHANGELOG: 6})
    guard, _ = _guard(monkeypatch, broker, client, consumer_sees=6)
    for p in range(6):
        asyncio.run(guard.ready(p))
    assert broker.grow_requests == [] and client.refreshes == 0


def test_the_first_write_for_a_new_partition_grows_the_changelog_and_refreshes_the_producer(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker({SOURCE: 6, CHANGELOG: 3})
    client = ProducerClient(broker, {CHANGELOG: 3})
    guard, table = _guard(monkeypatch, broker, client, consumer_sees=6)
    with caplog.at_level(logging.INFO, logger=worker_app.__name__):
        asyncio.run(guard.ready(4))
    assert broker.counts[CHANGELOG] == 6  # as wide as the source, not just partition 4 + 1
    assert client.known[CHANGELOG] == 6 and client.refreshes == 1
    assert f"grew {CHANGELOG} from 3 to 6 partitions (as wide as {SOURCE})" in caplog.text
    assert SOURCE in table._verified_source_topics_for_partitions  # faust's stale-metadata check is settled
    asyncio.run(guard.ready(5))
    assert len(broker.grow_requests) == 1 and client.refreshes == 1  # once grown, writes go straight through


def test_partitions_the_consumer_sees_before_an_event_arrives_on_them_count_too(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A write for old partition 1 after the source grew to 6: faust would refuse it (source and changelog
    not equally wide), so the changelog grows first."""
    broker = Broker({SOURCE: 6, CHANGELOG: 3})
    client = ProducerClient(broker, {CHANGELOG: 3})
    guard, _ = _guard(monkeypatch, broker, client, consumer_sees=6)
    asyncio.run(guard.ready(1))
    assert broker.counts[CHANGELOG] == 6


def test_another_worker_grew_it_already_the_producer_is_refreshed_without_growing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker({SOURCE: 6, CHANGELOG: 6})
    client = ProducerClient(broker, {CHANGELOG: 3})
    guard, _ = _guard(monkeypatch, broker, client, consumer_sees=6)
    asyncio.run(guard.ready(3))
    assert client.known[CHANGELOG] == 6 and broker.counts[CHANGELOG] == 6


def test_the_producer_never_asked_for_the_changelog_fetches_it_first(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker({SOURCE: 3, CHANGELOG: 3})
    client = ProducerClient(broker, {})
    guard, _ = _guard(monkeypatch, broker, client, consumer_sees=3)
    asyncio.run(guard.ready(0))
    assert client.known == {CHANGELOG: 3} and broker.grow_requests == []


def test_not_ready_when_the_broker_fails_or_its_metadata_lags(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker({SOURCE: 6, CHANGELOG: 3}, fail="KafkaError{code=_TRANSPORT}")
    guard, _ = _guard(monkeypatch, broker, ProducerClient(broker, {CHANGELOG: 3}), consumer_sees=6)
    with pytest.raises(ChangelogNotReady, match=r"growing .* failed: RuntimeError: KafkaError\{code=_TRANSPORT"):
        asyncio.run(guard.ready(4))
    broker = Broker({SOURCE: 6, CHANGELOG: 3})
    client = ProducerClient(broker, {CHANGELOG: 3}, stale=True)
    guard, _ = _guard(monkeypatch, broker, client, consumer_sees=6)
    with pytest.raises(ChangelogNotReady, match="does not list partition 4"):
        asyncio.run(guard.ready(4))
    client.stale = False  # the next attempt (the rules agent retries the event) finds it
    asyncio.run(guard.ready(4))
    assert broker.counts[CHANGELOG] == 6


def test_at_start_a_narrow_changelog_grows_and_a_missing_one_is_declared_as_wide_as_the_source(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker({SOURCE: 8, CHANGELOG: 6})
    guard, table = _guard(monkeypatch, broker, ProducerClient(broker, {}), consumer_sees=0)
    with caplog.at_level(logging.INFO, logger=worker_app.__name__):
        guard.align_at_start()
    assert broker.counts[CHANGELOG] == 8 and f"grew {CHANGELOG} from 6 to 8 partitions" in caplog.text

    broker = Broker({SOURCE: 8})
    guard, table = _guard(monkeypatch, broker, ProducerClient(broker, {}), consumer_sees=0)
    guard.align_at_start()
    assert table.partitions == table.changelog_topic.partitions == 8 and broker.grow_requests == []

    broker = Broker({})  # no source yet: it is created with kafka.partitions, and faust's changelog with it
    guard, table = _guard(monkeypatch, broker, ProducerClient(broker, {}), consumer_sees=0)
    guard.align_at_start()
    assert table.partitions == table.changelog_topic.partitions == 3 and broker.grow_requests == []


def test_at_start_a_changelog_wider_than_its_source_stops_the_worker_with_what_to_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    broker = Broker({SOURCE: 3, CHANGELOG: 6})
    guard, _ = _guard(monkeypatch, broker, ProducerClient(broker, {}), consumer_sees=0)
    with pytest.raises(SystemExit, match=rf"{CHANGELOG} has 6 partitions but {SOURCE} has 3: .*delete the changelog"):
        guard.align_at_start()


def test_the_rebalance_that_assigns_new_partitions_grows_the_changelog_before_any_event_is_fetched(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    broker = Broker({SOURCE: 6, CHANGELOG: 3})
    client = ProducerClient(broker, {CHANGELOG: 3})
    guard, _ = _guard(monkeypatch, broker, client, consumer_sees=6)
    asyncio.run(guard.on_assigned([SimpleNamespace(topic=CHANGELOG, partition=0)]))  # no source partition: nothing
    assert broker.grow_requests == []
    asyncio.run(guard.on_assigned([SimpleNamespace(topic=SOURCE, partition=p) for p in (3, 4, 5)]))
    assert broker.counts[CHANGELOG] == 6 and client.known[CHANGELOG] == 6

    broker = Broker({SOURCE: 6, CHANGELOG: 3}, fail="KafkaError{code=_TRANSPORT}")
    guard, _ = _guard(monkeypatch, broker, ProducerClient(broker, {CHANGELOG: 3}), consumer_sees=6)
    asyncio.run(guard.on_assigned([SimpleNamespace(topic=SOURCE, partition=5)]))  # never raises into faust
    assert f"{CHANGELOG} not grown at the rebalance" in caplog.text
