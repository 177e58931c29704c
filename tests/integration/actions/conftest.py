"""Fixtures for the actions integration tests: a simulator over TCP (no background traffic, frozen clock), an
ExmailClient against it, topics on the real broker, and builders for HR / alert envelopes."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.exmail import AppSecrets, ExmailClient, ExmailSettings, RetrySettings
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, TopicSpec, ensure_topics
from pipeline.sim import SimConfig, SimulatorHandle, run_simulator

START = "2026-01-05T10:00:00+08:00"
LEDGER_TOPIC = "exmail.state.actions"


def sim_config(**overrides: Any) -> SimConfig:
    base: dict[str, Any] = {
        "users": 30,
        "seed": 11,
        "speed": 0,
        "start": START,
        "traffic": {"enabled": False},
        "mount_surfaces": False,
    }
    base.update(overrides)
    return SimConfig.model_validate(base)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with run_simulator(sim_config()) as handle:
        yield handle


def exmail_settings(handle: SimulatorHandle) -> ExmailSettings:
    creds = handle.credentials
    return ExmailSettings(
        corp_id=creds["corp_id"],
        base_url=handle.exmail_base,
        secrets=AppSecrets(
            contact=creds["secrets"]["contact"], function_setting=creds["secrets"]["function_setting"]
        ),
        retry=RetrySettings(
            max_attempts=3, max_total_seconds=20, base_delay_seconds=0.05, max_delay_seconds=0.2
        ),
    )


@pytest.fixture
async def exmail(sim: SimulatorHandle) -> AsyncIterator[ExmailClient]:
    async with ExmailClient(exmail_settings(sim)) as client:
        yield client


@dataclass
class KafkaEnv:
    bootstrap: str
    names: TopicNames
    producer: EventProducer

    @property
    def ledger_topic(self) -> str:
        return self.names(LEDGER_TOPIC)

    def read(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        """Every (key, value) of `topic` from the beginning to its current end."""
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"t-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "log_level": 3,
            }
        )
        out: list[tuple[bytes | None, bytes | None]] = []
        try:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            marks = {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in meta.partitions
            }
            pending = {p for p, (low, high) in marks.items() if high > low}
            consumer.assign([TopicPartition(topic, p, marks[p][0]) for p in pending])
            while pending:
                for msg in consumer.consume(500, timeout=1.0):
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            pending.discard(msg.partition())
                        continue
                    out.append((msg.key(), msg.value()))
                    if (msg.offset() or 0) >= marks[msg.partition() or 0][1] - 1:
                        pending.discard(msg.partition())
        finally:
            consumer.close()
        return out

    def envelopes(self, topic: str) -> list[Envelope]:
        return [Envelope.decode(v) for _, v in self.read(topic) if v is not None]


def _wait_for_leaders(bootstrap: str, topics: list[str]) -> None:
    """A topic just created may have partitions without a leader for a moment."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 30
    while True:
        meta = admin.list_topics(timeout=10).topics
        if all(t in meta and meta[t].partitions and all(p.leader >= 0 for p in meta[t].partitions.values())
               for t in topics):
            return
        assert time.monotonic() < deadline, f"topics {topics} have no leaders"
        time.sleep(0.1)


@pytest.fixture
def kafka_env(kafka_bootstrap: str, topic_prefix: str) -> Iterator[KafkaEnv]:
    specs = (
        TopicSpec("exmail.actions", "corp_id/userid"),
        TopicSpec("exmail.alerts", "alert fingerprint"),
        TopicSpec(LEDGER_TOPIC, "key", partitions=1, config={"cleanup.policy": "compact"}),
    )
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=2, specs=specs)
    _wait_for_leaders(kafka_bootstrap, [topic_prefix + spec.name for spec in specs])
    producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix))
    try:
        yield KafkaEnv(kafka_bootstrap, TopicNames(topic_prefix), producer)
    finally:
        producer.close()


@dataclass
class Builders:
    corp_id: str
    domain: str
    now: Callable[[], float]

    def hr(
        self, event: str, userid: str, request_id: str, employee_id: str = "E2001", **fields: Any
    ) -> Envelope:
        data = {
            "event": event,
            "request_id": request_id,
            "employee_id": employee_id,
            "userid": userid,
            "name": None,
            "department_path": None,
            "position": None,
            "mobile": None,
            "aliases": [],
            "effective_at": None,
            **fields,
        }
        return Envelope(
            schema="hr.lifecycle/1",
            id=fingerprint("hr", self.corp_id, request_id),
            corp_id=self.corp_id,
            source="pipeline.sources.hr",
            occurred_at=utc_iso(self.now()),
            data=data,
        )

    def alert(self, rule: str, user: str, action: str = "disable_account") -> Envelope:
        labels = {"alertname": rule, "corp": self.corp_id, "user": user, "severity": "critical"}
        fp = fingerprint("exmail.alert", rule, sorted(labels.items()))
        start = utc_iso(self.now())
        data = {
            "fingerprint": fp,
            "status": "firing",
            "rule": rule,
            "labels": labels,
            "annotations": {"summary": f"login from a hostile IP for {user}"},
            "starts_at": start,
            "ends_at": utc_iso(self.now() + 600),
            "event_ids": [],
            "action": action,
            "sso_user": None,
        }
        return Envelope(
            schema="exmail.alert/1",
            id=fingerprint("exmail.alert/1", fp, start, "firing"),
            corp_id=self.corp_id,
            source="pipeline.transforms.rules",
            occurred_at=start,
            data=data,
        )


@pytest.fixture
def builders(sim: SimulatorHandle) -> Builders:
    """Envelope builders for the simulator's corp; set `.now` to the test's clock."""
    return Builders(sim.credentials["corp_id"], sim.credentials["domain"], time.time)


def decode(raw: bytes) -> Any:
    return orjson.loads(raw)
