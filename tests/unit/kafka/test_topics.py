"""The topic table and its creation: prefixed names, state topics compacted on one partition, and
ensure_topics creating only what is missing (tolerating a concurrent creator, not other errors)."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any

import pytest
from confluent_kafka.admin import NewTopic

from pipeline.kafka import topics
from pipeline.kafka.topics import TOPICS, TopicNames, TopicSpec, ensure_topics


def test_names_carry_the_prefix() -> None:
    names = TopicNames("t1.")
    assert names.raw("mail_log") == "t1.exmail.raw.mail_log"
    assert (names.events, names.alerts, names.notifications, names.deliveries, names.actions, names.dlq) == (
        "t1.exmail.events", "t1.exmail.alerts", "t1.exmail.notifications", "t1.exmail.deliveries",
        "t1.exmail.actions", "t1.exmail.dlq")
    assert names.hr_lifecycle == "t1.hr.lifecycle"
    assert names.state("cursors") == "t1.exmail.state.cursors"
    assert TopicNames().events == "exmail.events"


def test_the_table_names_each_topic_once_and_state_topics_are_compacted_single_partitions() -> None:
    names = [s.name for s in TOPICS]
    assert len(names) == len(set(names))
    names_api = TopicNames()
    for attr in ("events", "alerts", "notifications", "deliveries", "actions", "dlq", "hr_lifecycle"):
        assert getattr(names_api, attr) in names, attr
    state = [s for s in TOPICS if s.name.startswith("exmail.state.")]
    assert state, "no state topics"
    for spec in state:  # rebuilt by reading to the end: one partition keeps one order, compaction keeps it small
        assert spec.partitions == 1, spec.name
        assert "compact" in spec.config["cleanup.policy"], spec.name


class FakeAdmin:
    """AdminClient's list_topics/create_topics over a set of existing names (the mock cluster has no controller
    to create topics with a given configuration)."""

    def __init__(self, existing: set[str], fail: dict[str, str] | None = None) -> None:
        self.existing = existing
        self.fail = fail or {}
        self.requests: list[NewTopic] = []

    def list_topics(self, timeout: float) -> Any:
        return type("Md", (), {"topics": dict.fromkeys(self.existing)})()

    def create_topics(self, new: list[NewTopic], **_: Any) -> dict[str, Future[None]]:
        self.requests += new
        out: dict[str, Future[None]] = {}
        for topic in new:
            fut: Future[None] = Future()
            if topic.topic in self.fail:
                fut.set_exception(RuntimeError(self.fail[topic.topic]))
            else:
                fut.set_result(None)
            out[topic.topic] = fut
        return out


SPECS = (TopicSpec("a", "k"), TopicSpec("b", "k", partitions=1, config={"cleanup.policy": "compact"}),
         TopicSpec("c", "k"))


def _admin(monkeypatch: pytest.MonkeyPatch, admin: FakeAdmin) -> None:
    monkeypatch.setattr(topics, "AdminClient", lambda conf: admin)


def test_only_missing_topics_are_created_with_their_partitions_and_config(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = FakeAdmin({"p.a"})
    _admin(monkeypatch, admin)
    created = ensure_topics("x:1", prefix="p.", partitions=3, replication_factor=2, specs=SPECS)
    assert created == ["p.b", "p.c"]
    by_name = {t.topic: t for t in admin.requests}
    assert set(by_name) == {"p.b", "p.c"}
    assert (by_name["p.b"].num_partitions, by_name["p.b"].config) == (1, {"cleanup.policy": "compact"})
    assert (by_name["p.c"].num_partitions, by_name["p.c"].replication_factor) == (3, 2)


def test_nothing_to_create_makes_no_request(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = FakeAdmin({"a", "b", "c"})
    _admin(monkeypatch, admin)
    assert ensure_topics("x:1", specs=SPECS) == []
    assert admin.requests == []


def test_a_concurrent_creator_is_fine_other_errors_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    _admin(monkeypatch, FakeAdmin(set(), fail={"b": "KafkaError{code=TOPIC_ALREADY_EXISTS}"}))
    assert ensure_topics("x:1", specs=SPECS) == ["a", "c"]
    _admin(monkeypatch, FakeAdmin(set(), fail={"b": "KafkaError{code=POLICY_VIOLATION}"}))
    with pytest.raises(RuntimeError, match="POLICY_VIOLATION"):
        ensure_topics("x:1", specs=SPECS)


def test_partitions_to_add_names_only_existing_topics_narrower_than_wanted() -> None:
    current = {"a": 3, "b": 6, "c": 8}
    wanted = {"a": 6, "b": 6, "c": 6, "missing": 6}
    # b is as wide, c wider (Kafka cannot remove partitions), a missing topic is for its creator to size
    assert topics.partitions_to_add(current, wanted) == {"a": (3, 6)}
    assert topics.partitions_to_add({}, {"a": 1}) == {}


class GrowAdmin:
    """AdminClient.create_partitions over a partition count table; `taken` topics fail the way the broker
    answers a request that another process has already fulfilled."""

    def __init__(self, counts: dict[str, int], taken: dict[str, int] | None = None, error: str = "") -> None:
        self.counts, self.taken, self.error = counts, taken or {}, error
        self.requests: list[tuple[str, int]] = []

    def create_partitions(self, new: list[Any], **_: Any) -> dict[str, Future[None]]:
        out: dict[str, Future[None]] = {}
        for req in new:
            self.requests.append((req.topic, req.new_total_count))
            fut: Future[None] = Future()
            if req.topic in self.taken:
                self.counts[req.topic] = self.taken[req.topic]
                fut.set_exception(RuntimeError(f"KafkaError{{code=INVALID_PARTITIONS,val=37,str=\"Topic currently "
                                               f"has {self.counts[req.topic]} partitions\"}}"))
            elif self.error:
                fut.set_exception(RuntimeError(self.error))
            else:
                self.counts[req.topic] = req.new_total_count
                fut.set_result(None)
            out[req.topic] = fut
        return out


def _grow_admin(monkeypatch: pytest.MonkeyPatch, admin: GrowAdmin) -> None:
    monkeypatch.setattr(topics, "AdminClient", lambda conf: admin)
    monkeypatch.setattr(topics, "partition_counts", lambda bootstrap, names, timeout=0: {
        n: admin.counts[n] for n in names if n in admin.counts})


def test_grow_topics_adds_partitions_only_where_needed_and_says_what_grew(monkeypatch: pytest.MonkeyPatch) -> None:
    admin = GrowAdmin({"cl": 3, "wide": 8})
    _grow_admin(monkeypatch, admin)
    assert topics.grow_topics("x:1", {"cl": 6, "wide": 6, "missing": 6}) == {"cl": (3, 6)}
    assert admin.requests == [("cl", 6)]
    assert topics.grow_topics("x:1", {"cl": 6}) == {}  # as wide now: no request at all
    assert admin.requests == [("cl", 6)]


def test_grow_topics_accepts_a_concurrent_grower_but_not_other_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    _grow_admin(monkeypatch, GrowAdmin({"cl": 3}, taken={"cl": 6}))
    assert topics.grow_topics("x:1", {"cl": 6}) == {}  # another worker grew it first: nothing for this one to do
    _grow_admin(monkeypatch, GrowAdmin({"cl": 3}, taken={"cl": 4}))
    with pytest.raises(RuntimeError, match="INVALID_PARTITIONS"):  # grown by someone, but not wide enough
        topics.grow_topics("x:1", {"cl": 6})
    _grow_admin(monkeypatch, GrowAdmin({"cl": 3}, error="KafkaError{code=POLICY_VIOLATION}"))
    with pytest.raises(RuntimeError, match="POLICY_VIOLATION"):
        topics.grow_topics("x:1", {"cl": 6})
