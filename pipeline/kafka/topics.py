"""Every topic the pipeline uses, with its partitioning and retention, in one table (design §2)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from pipeline import streams


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    partitions: int | None = None  # None = KafkaSettings.partitions
    config: dict[str, str] = field(default_factory=dict)


_COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}

TOPICS: tuple[TopicSpec, ...] = (
    *(TopicSpec(s.topic, s.key) for s in streams.catalog().values()),  # every raw stream and hr.lifecycle
    TopicSpec("exmail.events", "corp_id/userid"),
    # keyed so a partition holds whole aggregation groups and the inhibition sources that can mute them
    # (RoutingConfig.partition_key); dispatch workers share the partitions
    TopicSpec("exmail.alerts", "routing partition key (labels every route groups by)"),
    TopicSpec("exmail.notifications", "receiver"),
    TopicSpec("exmail.deliveries", "receiver"),
    TopicSpec("exmail.actions", "corp_id/userid"),
    TopicSpec("exmail.dlq", "origin topic"),
    TopicSpec("exmail.state.cursors", "stream id", partitions=1, config=_COMPACT),
    TopicSpec("exmail.state.seen", "stream id/date/fingerprint", partitions=1, config=_COMPACT),
    TopicSpec("exmail.state.directory", "corp_id/object", partitions=1, config=_COMPACT),
    TopicSpec("exmail.state.silences", "silence id", partitions=1, config=_COMPACT),
    TopicSpec("exmail.state.alerting", "group/nflog/inhibit key", partitions=1, config=_COMPACT),
    TopicSpec("exmail.state.delivered", "notification id", partitions=1, config=_COMPACT),
    TopicSpec("exmail.state.actions", "action ledger key", partitions=1, config=_COMPACT),
    # one-time tokens (SSO link nonces): first claim wins (pipeline/kafka/claims.py); kept 8 days > any link TTL
    TopicSpec("exmail.state.claims", "namespace/token id", partitions=1,
              config={**_COMPACT, "cleanup.policy": "compact,delete", "retention.ms": str(8 * 86400 * 1000)}),
)


class TopicNames:
    """Resolved names with the deployment's prefix, e.g. `names.raw("mail_log")`."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def __call__(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def raw(self, kind: str) -> str:
        return self(f"exmail.raw.{kind}")

    @property
    def events(self) -> str:
        return self("exmail.events")

    @property
    def alerts(self) -> str:
        return self("exmail.alerts")

    @property
    def notifications(self) -> str:
        return self("exmail.notifications")

    @property
    def deliveries(self) -> str:
        return self("exmail.deliveries")

    @property
    def actions(self) -> str:
        return self("exmail.actions")

    @property
    def dlq(self) -> str:
        return self("exmail.dlq")

    @property
    def hr_lifecycle(self) -> str:
        return self("hr.lifecycle")

    def state(self, name: str) -> str:
        return self(f"exmail.state.{name}")


def ensure_topics(
    bootstrap: str,
    *,
    prefix: str = "",
    partitions: int = 6,
    replication_factor: int = 1,
    specs: tuple[TopicSpec, ...] = TOPICS,
    timeout: float = 30.0,
) -> list[str]:
    """Create missing topics; returns the names created. Existing topics are left as they are."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=timeout).topics)
    new = [
        NewTopic(prefix + s.name, num_partitions=s.partitions or partitions,
                 replication_factor=replication_factor, config=dict(s.config))
        for s in specs
        if prefix + s.name not in existing
    ]
    if not new:
        return []
    created = []
    for name, fut in admin.create_topics(new, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            fut.result()
            created.append(name)
        except Exception as exc:  # a concurrent creator is fine
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    return created


def partition_counts(bootstrap: str, names: Iterable[str], *, timeout: float = 10.0) -> dict[str, int]:
    """The partition count of each named topic the broker knows (missing ones are left out). One small metadata
    request per topic: asking for the whole cluster costs ~0.4 s on a broker holding thousands of topics (worker
    start to healthy must stay < 3 s), and auto-creation is off for these requests, so asking never creates a
    topic with the broker's defaults (an AdminClient's named metadata request may)."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "exmail-topic-check",
                      "allow.auto.create.topics": False, "log_level": 0})
    try:
        counts = {}
        for name in names:
            meta = probe.list_topics(topic=name, timeout=timeout).topics.get(name)
            if meta is not None and meta.error is None and meta.partitions:
                counts[name] = len(meta.partitions)
        return counts
    finally:
        probe.close()


def partitions_to_add(current: Mapping[str, int], wanted: Mapping[str, int]) -> dict[str, tuple[int, int]]:
    """{topic: (current, wanted)} for the existing topics narrower than wanted. Kafka cannot remove partitions,
    so a wider topic is left as it is, and a missing one is for its creator (ensure_topics) to size."""
    return {t: (current[t], n) for t, n in sorted(wanted.items()) if t in current and current[t] < n}


def grow_topics(bootstrap: str, wanted: Mapping[str, int], *, timeout: float = 30.0) -> dict[str, tuple[int, int]]:
    """Add partitions so each existing topic in `wanted` has at least that many; returns {topic: (old, new)} for
    the topics this call grew. Another process growing the same topic at the same time is fine."""
    grow = partitions_to_add(partition_counts(bootstrap, wanted, timeout=timeout), wanted)
    if not grow:
        return {}
    admin = AdminClient({"bootstrap.servers": bootstrap})
    grown = {}
    requests = [NewPartitions(t, new) for t, (_, new) in grow.items()]
    for name, fut in admin.create_partitions(requests, operation_timeout=timeout, request_timeout=timeout).items():
        try:
            fut.result()
            grown[name] = grow[name]
        except Exception as exc:  # a concurrent grower got there first: fine when the topic is now wide enough
            if "INVALID_PARTITIONS" not in str(exc) or partitions_to_add(
                    partition_counts(bootstrap, [name], timeout=timeout), {name: grow[name][1]}):
                raise
    return grown
