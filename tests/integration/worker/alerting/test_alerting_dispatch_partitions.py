"""Dispatch shared by two workers over a partitioned exmail.alerts, against the real broker: a
`pipeline worker --agent dispatch` process and an in-process DispatchService in the same group. Every group
is notified once, a silence set through the process's HTTP API mutes alerts on the other worker's
partitions, inhibition holds across the partition key, and the process that leaves (SIGTERM) hands its
groups and notification log to the other."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from confluent_kafka import Consumer, TopicPartition

from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.transforms.routing import SilenceStore, parse_routing_config
from pipeline.transforms.rules.alert import Alert
from pipeline.worker._dispatch import DispatchService

pytestmark = pytest.mark.integration

ROUTING_DICT: dict[str, Any] = {
    "route": {"receiver": "ops", "group_by": ["alertname", "user"], "group_wait": "1s",
              "group_interval": "1s", "repeat_interval": "4h"},
    "receivers": [{"name": "ops"}],
    "inhibit_rules": [{"source_matchers": ["alertname=Src"], "target_matchers": ["alertname=Tgt"],
                       "equal": ["user"]}],
}
ROUTING = parse_routing_config(ROUTING_DICT)
TOKEN_ENV = "EXMAIL_TEST_OPERATOR_TOKEN"
OPERATOR_TOKEN = uuid.uuid4().hex  # the silences API takes writes from an operator only


def alert(name: str, user: str) -> Alert:
    now = time.time()
    return Alert(labels={"alertname": name, "user": user, "severity": "warning"},
                 annotations={"summary": f"{name} {user}"}, starts_at=now, ends_at=now + 3600, rule="t")


class Notifications:
    """Reads exmail.notifications from the beginning, remembering every record."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.records: list[dict[str, Any]] = []
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                                   "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self._consumer.subscribe([topic])

    def poll(self) -> None:
        for msg in self._consumer.consume(500, 0.2):
            if msg.error() is None:
                envelope = orjson.loads(msg.value() or b"{}")
                self.records.append({**envelope["data"], "envelope_id": envelope["id"]})

    def groups(self) -> list[tuple[str, str]]:
        return sorted((r["group_labels"]["alertname"], r["group_labels"]["user"]) for r in self.records)

    def close(self) -> None:
        self._consumer.close()


async def until(predicate: Callable[[], bool], within: float, what: str, step: Callable[[], None] = lambda: None
                ) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        step()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def worker_process(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """`pipeline worker --agent dispatch` with its HTTP port (the silences API)."""
    port = _free_port()
    config = tmp_path / "worker.yaml"
    config.write_text(yaml.safe_dump({"alerting": {"routing": ROUTING_DICT}, "auth": {"tokens": [
        {"name": "oncall", "roles": ["operator"], "token": f"env:{TOKEN_ENV}"}]}}))
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "worker", "--config", str(config), "--bootstrap",
             kafka_bootstrap, "--prefix", topic_prefix, "--app-id", f"{topic_prefix}worker", "--http-port",
             str(port), "--agent", "dispatch", "--loglevel", "INFO"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, TOKEN_ENV: OPERATOR_TOKEN})
        try:
            yield {"process": process, "api": f"http://127.0.0.1:{port}/alerting/api/silences", "log": log_path}
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)


@pytest.fixture
async def cluster(kafka_bootstrap: str, topic_prefix: str, worker_process: dict[str, Any]
                  ) -> AsyncIterator[dict[str, Any]]:
    kafka = KafkaSettings(bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, partitions=6)
    names = TopicNames(topic_prefix)
    producer = EventProducer(kafka)
    service = DispatchService(kafka=kafka, names=names, group_id=f"{topic_prefix}worker-dispatch",
                              routing=ROUTING, silences=SilenceStore(), producer=producer)
    task = asyncio.create_task(service.run())
    try:
        yield {"kafka": kafka, "names": names, "producer": producer, "service": service, **worker_process}
    finally:
        service.stop()
        await task
        producer.close()


async def test_two_workers_share_dispatch_with_silences_and_inhibition(cluster: dict[str, Any]) -> None:
    names, producer, b = cluster["names"], cluster["producer"], cluster["service"]
    process: subprocess.Popen[bytes] = cluster["process"]

    def alive() -> None:
        assert process.poll() is None, cluster["log"].read_text()[-3000:]

    await until(lambda: 0 < len(b.dispatchers) < 6, 90, "the worker process and the service to share partitions",
                alive)

    # A silence set through the worker process's API reaches the in-process worker through the topic.
    async with httpx.AsyncClient(timeout=10, trust_env=False,
                                 headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}) as http:
        response = await http.post(cluster["api"], json={
            "matchers": ["user=u3"], "comment": "maintenance", "duration": "1h"})
    assert response.status_code == 200, response.text
    silence_id = response.json()["silence_id"]
    await until(lambda: any(s.id == silence_id for s in b.silences.list()), 30, "the silence on the service")

    users = [f"u{i}" for i in range(12)]
    sent = [alert("X", u) for u in users] + [alert("Src", "u5"), alert("Tgt", "u5")]
    await producer.send_many([(names.alerts, ROUTING.partition_key(x.labels), x.to_envelope(time.time()))
                              for x in sent])
    partitions = _partitions_of(cluster, sent)
    assert partitions & set(b.dispatchers) and partitions - set(b.dispatchers), "both workers got alerts"

    expected = sorted([("X", u) for u in users if u != "u3"] + [("Src", "u5")])
    seen = Notifications(cluster["kafka"].bootstrap, names.notifications)
    try:
        await until(lambda: len(seen.records) >= len(expected), 60, f"{len(expected)} notifications", seen.poll)
        for _ in range(12):  # two more group intervals: nothing else may arrive
            seen.poll()
        assert seen.groups() == expected  # u3 silenced, Tgt/u5 inhibited by Src/u5, every group once
        assert len({r["envelope_id"] for r in seen.records}) == len(expected)

        # The process leaves: the service takes its partitions with their groups and notification log, so
        # re-sent alerts of already-notified groups notify nobody, and only a new group does.
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 60) == 0, cluster["log"].read_text()[-3000:]
        await until(lambda: len(b.dispatchers) == 6, 60, "the service to own every partition")
        again = [alert("X", u) for u in users] + [alert("X", "u99")]
        await producer.send_many([(names.alerts, ROUTING.partition_key(x.labels), x.to_envelope(time.time()))
                                  for x in again])
        await until(lambda: len(seen.records) >= len(expected) + 1, 60, "the new group's notification", seen.poll)
        for _ in range(12):
            seen.poll()
        assert seen.groups() == sorted([*expected, ("X", "u99")])
    finally:
        seen.close()


def _partitions_of(cluster: dict[str, Any], alerts: list[Alert]) -> set[int]:
    """The partitions the producer's murmur2 partitioner put these alerts' keys on (read back from the topic)."""
    names = cluster["names"]
    keys = {ROUTING.partition_key(x.labels) for x in alerts}
    consumer = Consumer({"bootstrap.servers": cluster["kafka"].bootstrap, "group.id": f"t-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    try:
        found: set[int] = set()
        for p in range(6):
            low, high = consumer.get_watermark_offsets(TopicPartition(names.alerts, p), timeout=10)
            if high > low:
                consumer.assign([TopicPartition(names.alerts, p, low)])
                got = 0
                while got < high - low:
                    batch = consumer.consume(1000, 5.0)
                    assert batch, f"could not read back partition {p}"
                    got += len(batch)
                    found.update(p for msg in batch if msg.key() in keys)
        return found
    finally:
        consumer.close()
