"""Exactly once into the audit store through the real broker and a real worker: a normal run, SIGKILL mid-batch
and restart, PostgreSQL stopped for 30 s mid-run (the worker waits and catches up)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.records import RAW_SCHEMAS, raw_id, with_occurrences

pytestmark = pytest.mark.integration
CORP = "wm0123456789abcdef"
ROOT = Path(__file__).resolve().parents[3]


def _raw_day(n: int) -> list[Envelope]:
    """n mail-log records of one day, with some identical twins (told apart by occurrence)."""
    recs = [{"mailtype": 1 + i % 2, "sender": f"user{i % 40}@example.com", "receiver": f"c{i % 300}@partner.cn",
             "subject": f"订单 {i % (n - 50)}", "time": 1_764_000_000 + (i % (n - 50)), "status": (3, 13)[i % 2]}
            for i in range(n)]
    out = []
    for occ, rec in with_occurrences("mail_log", recs):
        out.append(Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec, occ), corp_id=CORP,
                            source="mail_log", occurred_at=utc_iso(rec["time"]),
                            data={"record": rec, "context": {"date": "2025-11-24", "query_mailtype": 0}}))
    return out


def _produce(bootstrap: str, prefix: str, envs: list[Envelope]) -> None:
    topic = TopicNames(prefix).raw("mail_log")

    async def go() -> None:
        p = EventProducer(KafkaSettings(bootstrap=bootstrap))
        await p.send_many((topic, record_key(CORP, e.data["record"]["sender"]), e) for e in envs)
        assert p.close() == 0

    asyncio.run(go())


def _wait_for(count: Callable[[], int], target: int, timeout: float, alive: Callable[[], bool]) -> int:
    deadline = time.monotonic() + timeout
    n = 0
    while time.monotonic() < deadline and alive():
        n = count()
        if n >= target:
            return n
        time.sleep(0.2)
    return count()


def _sqlite_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return [r[0] for r in conn.execute("select id from audit_records")]
    except sqlite3.OperationalError:
        return []


def test_sqlite_audit_holds_each_event_once_after_sigkill_mid_batch_and_restart(
        kafka_bootstrap: str, topic_prefix: str, worker_factory: Callable, tmp_path: Path) -> None:
    envs = _raw_day(3000)
    assert len({e.id for e in envs}) == 3000
    _produce(kafka_bootstrap, topic_prefix, envs)
    db = tmp_path / "audit.db"

    first = worker_factory("--agent", "normalize", "--agent", "audit", "--sqlite", str(db), name="first")
    n = _wait_for(lambda: len(_sqlite_ids(db)), 400, 90, lambda: first.proc.poll() is None)
    assert n > 0, first.log()
    first.stop(signal.SIGKILL)

    second = worker_factory("--agent", "normalize", "--agent", "audit", "--sqlite", str(db), name="second")
    _wait_for(lambda: len(_sqlite_ids(db)), 3000, 120, lambda: second.proc.poll() is None)
    time.sleep(2)  # anything re-read after the kill must not add rows
    ids = _sqlite_ids(db)
    assert second.stop() == 0, second.log()
    assert len(ids) == 3000 and set(ids) == {e.id for e in envs}, second.log()
    verify = subprocess.run([str(ROOT / ".venv/bin/pipeline"), "audit", "verify", "--db", str(db)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr


@pytest.fixture
def private_postgres() -> Iterator[Callable[[str], subprocess.CompletedProcess[str]]]:
    """A PostgreSQL cluster of this test's own (state in tmp_path, free port), so stopping it disturbs nobody."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # pytest's tmp dirs are private to root; the server runs as the 'postgres' user when we are root
    state = Path(tempfile.mkdtemp(prefix="exmail-pg-"))
    state.chmod(0o755)
    env = dict(os.environ, EXMAIL_STATE_DIR=str(state), EXMAIL_PG_PORT=str(port))

    def pg(cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / "ops/postgres/postgres.sh"), cmd], capture_output=True, text=True,
                              env=env, timeout=120)

    yield pg
    pg("stop")
    shutil.rmtree(state, ignore_errors=True)


def test_postgres_audit_exactly_once_while_postgres_is_stopped_for_30s_mid_run(
        kafka_bootstrap: str, topic_prefix: str, worker_factory: Callable, tmp_path: Path,
        private_postgres: Callable[[str], subprocess.CompletedProcess[str]]) -> None:
    started = private_postgres("start")
    assert started.returncode == 0, started.stderr
    dsn = started.stdout.strip().splitlines()[-1]
    os.environ["EXMAIL_TEST_AUDIT_DSN"] = dsn
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text("worker:\n  audit:\n    kind: postgres\n    dsn: env:EXMAIL_TEST_AUDIT_DSN\n"
                   "    batch:\n      max_records: 200\n      retry_max_seconds: 2\n")

    def count() -> int:
        try:
            with psycopg.connect(dsn, connect_timeout=2) as conn:
                row = conn.execute("select count(*) from audit_records").fetchone()
                return int(row[0]) if row else 0
        except psycopg.Error:
            return -1

    envs = _raw_day(3000)
    _produce(kafka_bootstrap, topic_prefix, envs[:1500])
    worker = worker_factory("--config", str(cfg), "--agent", "normalize", "--agent", "audit")
    assert _wait_for(count, 1500, 90, lambda: worker.proc.poll() is None) == 1500, worker.log()

    assert private_postgres("stop").returncode == 0
    _produce(kafka_bootstrap, topic_prefix, envs[1500:])
    time.sleep(30)
    assert worker.proc.poll() is None, "worker died while PostgreSQL was down:\n" + worker.log()
    assert private_postgres("start").returncode == 0
    assert _wait_for(count, 3000, 120, lambda: worker.proc.poll() is None) == 3000, worker.log()
    time.sleep(2)
    with psycopg.connect(dsn) as conn:
        ids = [r[0] for r in conn.execute("select id from audit_records")]
    assert worker.stop() == 0, worker.log()
    assert len(ids) == 3000 and set(ids) == {e.id for e in envs}
    verify = subprocess.run([str(ROOT / ".venv/bin/pipeline"), "audit", "verify", "--dsn", "env:EXMAIL_TEST_AUDIT_DSN"],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
