"""A stage that stops moving is never silent: an injected stall (the audit store locked by another process, so the
audit stage cannot make its batch durable and commits nothing) turns the real worker's /healthz unhealthy with
the stuck topic and partition named, is logged at ERROR and counted; when the lock goes, it all clears and every
event lands once."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.records import RAW_SCHEMAS, raw_id
from tests.integration._waiting import until

from .conftest import free_port

pytestmark = pytest.mark.integration
CORP = "wm0123456789abcdef"


def _produce(bootstrap: str, prefix: str, first: int, n: int) -> None:
    topic = TopicNames(prefix).raw("mail_log")
    envs = []
    for i in range(first, first + n):
        rec = {"mailtype": 1, "sender": f"user{i % 7}@example.com", "receiver": f"c{i}@partner.cn",
               "subject": f"订单 {i}", "time": 1_764_000_000 + i, "status": 3}
        envs.append(Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec, 0), corp_id=CORP,
                             source="mail_log", occurred_at=utc_iso(rec["time"]),
                             data={"record": rec, "context": {"date": "2025-11-24", "query_mailtype": 0}}))

    async def go() -> None:
        p = EventProducer(KafkaSettings(bootstrap=bootstrap))
        await p.send_many((topic, record_key(CORP, e.data["record"]["sender"]), e) for e in envs)
        assert p.close() == 0

    asyncio.run(go())


def _rows(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=0.2) as conn:
            return int(conn.execute("select count(*) from audit_records").fetchone()[0])
    except sqlite3.OperationalError:
        return -1


def test_an_injected_stall_turns_healthz_unhealthy_is_logged_and_clears(
        kafka_bootstrap: str, topic_prefix: str, worker_factory: Callable, tmp_path: Path) -> None:
    db, port = tmp_path / "audit.db", free_port()
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(f"worker:\n  stall_seconds: 5\n  lag_probe_seconds: 0.5\n  audit:\n    kind: sqlite\n"
                   f"    path: {db}\n    batch:\n      max_records: 50\n      retry_max_seconds: 1\n")
    worker = worker_factory("--config", str(cfg), "--agent", "normalize", "--agent", "audit",
                            "--http-port", str(port))
    alive = lambda: worker.proc.poll() is None  # noqa: E731
    url = f"http://127.0.0.1:{port}"
    http = httpx.Client(timeout=3)

    def health() -> tuple[int, dict[str, Any]]:
        try:
            r = http.get(f"{url}/healthz")
            return r.status_code, r.json()
        except httpx.HTTPError:
            return 0, {}

    assert until(lambda: health()[0] == 200, 60, alive), worker.log()
    _produce(kafka_bootstrap, topic_prefix, 0, 60)
    assert until(lambda: _rows(db) == 60, 60, alive), worker.log()

    lock = sqlite3.connect(db, isolation_level=None, timeout=5)
    lock.execute("BEGIN EXCLUSIVE")  # another process holds the store: the audit stage cannot write
    try:
        _produce(kafka_bootstrap, topic_prefix, 60, 60)
        events = TopicNames(topic_prefix).events
        stalled = until(lambda: (h := health())[0] == 503 and h[1].get("stalled"), 60, alive)
        assert stalled, (health(), worker.log())
        assert {s["topic"] for s in stalled} == {events}, stalled
        assert all(s["lag"] > 0 and s["seconds"] >= 5 for s in stalled)
        metrics = http.get(f"{url}/metrics").text
        assert any(line.startswith("exmail_consumer_stalls_total{") and events in line and
                   float(line.rsplit(" ", 1)[1]) >= 1 for line in metrics.splitlines()), metrics[-2000:]
        log = worker.log_path.read_text(errors="replace")
        assert "STALLED" in log and events in log, log[-3000:]
    finally:
        lock.execute("ROLLBACK")
        lock.close()

    assert until(lambda: _rows(db) == 120, 90, alive), worker.log()
    assert until(lambda: health() == (200, health()[1]) and not health()[1]["stalled"], 60, alive), health()
    assert "moving again" in worker.log_path.read_text(errors="replace")
    assert worker.stop() == 0, worker.log()
