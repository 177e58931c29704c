"""Every topic the pipeline uses, with its partitioning and retention, in one table (design §2)."""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, NewTopic

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
