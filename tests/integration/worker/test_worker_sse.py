"""The worker serves the SSE stream for custom clients on its HTTP port: notifications from Kafka arrive as
events with resumable ids."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames

pytestmark = pytest.mark.integration


def test_worker_streams_notifications_to_sse_clients(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path,
                                                      worker_factory: Callable, ) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = tmp_path / "p.yaml"
    cfg.write_text("worker:\n  sse:\n    allow_anonymous: true\n    heartbeat_seconds: 1\n")
    worker = worker_factory("--config", str(cfg), "--agent", "normalize", "--http-port", str(port))
    names = TopicNames(topic_prefix)
    notes = [Envelope(schema="exmail.notification/1", id=fingerprint("n", i), corp_id="wm1", source="test",
                      occurred_at=utc_iso(), data={"receiver": "cs-robot" if i % 2 else "ops", "group_key": f"g{i}",
                                                   "status": "firing", "alerts": [], "group_labels": {},
                                                   "common_labels": {}})
             for i in range(6)]

    async def produce() -> None:
        p = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap))
        await p.send_many((names.notifications, n.data["receiver"], n) for n in notes)
        p.close()

    asyncio.run(produce())
    url = f"http://127.0.0.1:{port}/sse/stream"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    got: list[str] = []
    with httpx.stream("GET", url, params={"from": "earliest", "receiver": "cs-robot"}, timeout=20) as r:
        assert r.status_code == 200, worker.log()
        for line in r.iter_lines():
            if line.startswith("data:"):
                got.append(line)
            if len(got) == 3:
                break
    assert all("cs-robot" in g for g in got)
    assert {n.id for n in notes if n.data["receiver"] == "cs-robot"} == {
        i for i in (n.id for n in notes) if any(i in g for g in got)}
    assert worker.stop() == 0, worker.log()
