"""Delivery under faults, against real worker processes, the real broker and `pipeline sim`'s WeCom robot
(20 messages/minute, 45009 beyond), reading the delivery log, the DLQ and the robot's record back:

- a worker SIGKILLed after part 2 of a 5-part notification continues at part 3; three kills in a minute
  produce no 45009 and no dead letter, and every notification is delivered;
- a robot sent more than it can take: the backlog shows on /metrics, queued notifications of one group are
  coalesced to the latest, SIGINT stops the worker in under 10 s with exit 0, and the next start delivers the
  rest.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from pipeline.envelope import fingerprint
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.reader import scan
from pipeline.kafka.state import read_compacted
from pipeline.transforms.routing.notification import Notification
from pipeline.transforms.rules.alert import Alert

pytestmark = pytest.mark.integration
RECEIVER = "cs-robot"
MAX_BYTES = 600  # small markdown parts, so one notification of nine alerts is five parts


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(sim: dict[str, Any], path: Path) -> Path:
    cfg = {"alerting": {
        "operator_alerts": False,
        "routing": {
            "route": {"receiver": RECEIVER, "group_by": ["alertname"], "group_wait": "0s",
                      "group_interval": "1s", "repeat_interval": "4h"},
            "receivers": [{"name": RECEIVER, "kind": "wecom_robot", "key": "env:EXMAIL_TEST_ROBOT_KEY",
                           "base_url": f"{sim['base_url']}/wecom", "language": "en",
                           "markdown_max_bytes": MAX_BYTES, "max_parts": 10}],
        }}}
    path.write_text(yaml.safe_dump(cfg))
    return path


class Worker:
    """`pipeline worker --agent delivery` with static membership, so a restart after SIGKILL is quick."""

    def __init__(self, bootstrap: str, prefix: str, config: Path, logs: Path) -> None:
        self.port = _free_port()
        self.args = [sys.executable, "-m", "pipeline.cli", "worker", "--config", str(config), "--bootstrap",
                     bootstrap, "--prefix", prefix, "--app-id", f"{prefix}delivery", "--instance-id", "w1",
                     "--http-port", str(self.port), "--agent", "delivery"]
        self.logs = logs
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.runs += 1
        with (self.logs / f"worker-{self.runs}.log").open("wb") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                         env=dict(os.environ, EXMAIL_TEST_ROBOT_KEY="sim-robot-key"))
        assert _wait(lambda: self.healthy(), 90), self.log()

    def healthy(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, self.log()
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metrics(self) -> str:
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=5).text

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def log(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("worker-*.log")))


@pytest.fixture
def worker(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
           sim_process: dict[str, Any]) -> Iterator[Worker]:
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    w = Worker(kafka_bootstrap, topic_prefix, _config(sim_process, tmp_path / "p.yaml"), tmp_path)
    yield w
    if w.proc is not None and w.proc.poll() is None:
        w.proc.kill()
        w.proc.wait(30)


def _wait(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def _notification(group: str, version: int, alerts: int) -> Notification:
    now = time.time()
    items = [Alert(labels={"alertname": group, "user": f"user{i}@acme.com", "severity": "warning"},
                   annotations={"summary": f"{group} v{version} alert {i}: " + "details " * 8},
                   starts_at=now, ends_at=now + 3600, rule=group, fingerprint=f"{group}-{i}")
             for i in range(alerts)]
    return Notification(id=fingerprint("test-notification", group, version, time.time_ns()), receiver=RECEIVER,
                        group_key=f"{{}}:{{alertname=\"{group}\"}}", group_id=group,
                        group_labels={"alertname": group}, route_id="{}", reason="first notification",
                        sequence=version, sequence_start=now, created_at=now, alerts=items, resolved=frozenset())


def _produce(bootstrap: str, prefix: str, notes: list[Notification]) -> None:
    topic = TopicNames(prefix).notifications

    async def go() -> None:
        producer = EventProducer(KafkaSettings(bootstrap=bootstrap))
        await producer.send_many((topic, n.kafka_key(), n.to_envelope()) for n in notes)
        producer.close()

    asyncio.run(go())


def _received(sim: dict[str, Any], outcome: str | None = None) -> list[dict[str, Any]]:
    params = {"outcome": outcome} if outcome else {}
    r = httpx.get(f"{sim['base_url']}/wecom/_sim/received", params=params, timeout=5)
    r.raise_for_status()
    return [m for m in r.json()["received"] if m.get("channel") == "robot"]


def _content(m: dict[str, Any]) -> str:
    return str(m["body"]["markdown"]["content"])


def _part(m: dict[str, Any]) -> tuple[int, int] | None:
    found = re.search(r"\((\d+)/(\d+)\)", _content(m))
    return (int(found.group(1)), int(found.group(2))) if found else None


def _dead_letters(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    scan(bootstrap, TopicNames(prefix).dlq, lambda _k, v: out.append(orjson.loads(v)) if v else None)
    return out


def test_a_killed_worker_resumes_at_the_next_part_and_kills_cause_no_45009_storm(
        kafka_bootstrap: str, topic_prefix: str, sim_process: dict[str, Any], worker: Worker) -> None:
    sim = sim_process
    long_one = _notification("LongAlert", 1, 9)
    short = [_notification(f"Short{i}", 1, 1) for i in range(4)]
    _produce(kafka_bootstrap, topic_prefix, [long_one, *short])
    state_topic = TopicNames(topic_prefix).state("delivered")

    def long_parts_done() -> int:
        value = read_compacted(kafka_bootstrap, state_topic).get(long_one.id)
        return 99 if isinstance(value, int) else int(value["parts"]) if isinstance(value, dict) else 0

    worker.start()
    assert _wait(lambda: long_parts_done() >= 2, 90), worker.log()
    worker.kill()  # kill 1: parts 1 and 2 are recorded, part 3 is next
    accepted_before = len(_received(sim, "accepted"))
    parts_before = [_part(m) for m in _received(sim, "accepted") if "LongAlert" in _content(m)]
    assert parts_before == [(1, 5), (2, 5)], parts_before

    worker.start()
    assert _wait(lambda: len(_received(sim, "accepted")) > accepted_before, 60), worker.log()
    worker.kill()  # kill 2, right after the restarted worker's first send
    worker.start()
    time.sleep(3)
    worker.kill()  # kill 3
    worker.start()
    ids = [long_one.id, *(n.id for n in short)]
    assert _wait(lambda: all(isinstance(read_compacted(kafka_bootstrap, state_topic).get(i), int) for i in ids),
                 150), worker.log()

    accepted = _received(sim, "accepted")
    long_parts = [_part(m) for m in accepted if "LongAlert" in _content(m)]
    assert long_parts[:3] == [(1, 5), (2, 5), (3, 5)], long_parts  # continued at part 3, not from part 1
    assert {p for p in long_parts} == {(i, 5) for i in range(1, 6)}
    assert long_parts.count((1, 5)) == 1 and long_parts.count((2, 5)) == 1
    assert all(any(f"Short{i} v1" in _content(m) for m in accepted) for i in range(4))
    throttled = [m for m in _received(sim, "rejected") if m.get("errcode") == 45009]
    assert throttled == [], throttled
    assert [d for d in _dead_letters(kafka_bootstrap, topic_prefix) if d.get("data", {}).get("stage") == "delivery"] \
        == []


def test_a_saturated_robot_shows_its_backlog_coalesces_and_stops_fast_then_delivers_the_rest(
        kafka_bootstrap: str, topic_prefix: str, sim_process: dict[str, Any], worker: Worker) -> None:
    sim = sim_process
    groups = [f"Busy{i}" for i in range(4)]
    notes = [_notification(g, v, 1) for v in (1, 2, 3) for g in groups]  # three states of each group
    _produce(kafka_bootstrap, topic_prefix, notes)
    worker.start()

    def metric(name: str) -> float:
        found = re.search(rf'^{name}{{receiver="{RECEIVER}"}} ([0-9.e+]+)$', worker.metrics(), re.M)
        return float(found.group(1)) if found else 0.0

    assert _wait(lambda: metric("exmail_delivery_backlog_notifications") > 0, 30), worker.log()
    assert _wait(lambda: metric("exmail_delivery_coalesced_total") > 0, 30), worker.log()
    assert _wait(lambda: len(_received(sim, "accepted")) >= 2, 60), worker.log()
    assert worker.proc is not None
    start = time.monotonic()
    worker.proc.send_signal(signal.SIGINT)
    rc = worker.proc.wait(30)
    stopped_in = time.monotonic() - start
    assert rc == 0, worker.log()
    assert stopped_in < 10, f"stop took {stopped_in:.1f}s"

    worker.start()
    state_topic = TopicNames(topic_prefix).state("delivered")
    latest = [n.id for n in notes if n.sequence == 3]
    assert _wait(lambda: all(isinstance(read_compacted(kafka_bootstrap, state_topic).get(i), int) for i in latest),
                 120), worker.log()
    accepted = [_content(m) for m in _received(sim, "accepted")]
    for g in groups:
        assert sum(f"{g} v3" in c for c in accepted) == 1, accepted  # the latest state, once
    assert len(accepted) < len(notes)  # intermediate states were coalesced away, not all sent
    assert [m for m in _received(sim, "rejected") if m.get("errcode") == 45009] == []
