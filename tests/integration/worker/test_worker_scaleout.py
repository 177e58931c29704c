"""Scale-out: two `pipeline worker` processes in one consumer group share the partitions; one is SIGKILLed
mid-stream and the other takes its partitions over. Every event lands in the audit store exactly once and
every hash chain verifies (real broker, real processes, one SQLite store in WAL mode shared by both)."""

from __future__ import annotations

import asyncio
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.records import RAW_SCHEMAS, raw_id

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
CORP = "wm0123456789abcdef"
_ASSIGNMENT = re.compile(r"(normalize|audit): (assigned|revoked|lost) (.+?)(?: \(|$)", re.M)


def _raw_mail(n: int) -> list[Envelope]:
    """n distinct mail-log records from 60 senders (so every partition gets some)."""
    out = []
    for i in range(n):
        rec = {"mailtype": 1, "sender": f"user{i % 60}@example.com", "receiver": f"c{i}@partner.cn",
               "subject": f"report {i}", "time": 1_764_000_000 + i, "status": 3}
        out.append(Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec, 0), corp_id=CORP,
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


def _sqlite_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    try:
        with sqlite3.connect(path, timeout=5) as conn:
            return [r[0] for r in conn.execute("select id from audit_records")]
    except sqlite3.OperationalError:
        return []


def _wait_for(count: Callable[[], int], target: int, timeout: float, alive: Callable[[], bool]) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if count() >= target:
            break
        time.sleep(0.2)
    return count()


def _owned(log: str, unit: str) -> set[str]:
    """Partitions `unit` owns now by its worker's log (cooperative rebalancing logs increments)."""
    out: set[str] = set()
    for m in _ASSIGNMENT.finditer(log):
        if m.group(1) != unit:
            continue
        parts = {p.strip() for p in m.group(3).split(",") if p.strip() not in ("", "-")}
        if m.group(2) == "assigned":
            out |= parts
        else:
            out -= parts
    return out


def test_two_workers_share_partitions_and_one_takes_over_after_the_other_is_sigkilled(
        kafka_bootstrap: str, topic_prefix: str, worker_factory: Callable, tmp_path: Path) -> None:
    envs = _raw_mail(6000)
    db = tmp_path / "audit.db"
    args = ("--agent", "normalize", "--agent", "audit", "--sqlite", str(db), "--loglevel", "INFO")
    first = worker_factory(*args, name="first")
    second = worker_factory(*args, name="second")

    def owned() -> tuple[set[str], set[str]]:
        a, b = (_owned(w.log_path.read_text(errors="replace"), "audit") for w in (first, second))
        return a, b

    def both_assigned() -> int:
        a, b = owned()
        events = TopicNames(topic_prefix).events
        shared = any(p.startswith(events) for p in a) and any(p.startswith(events) for p in b)
        return int(len(a | b) == 6 and shared and not a & b)  # events + actions, 3 partitions each

    alive = lambda: first.proc.poll() is None and second.proc.poll() is None  # noqa: E731
    assert _wait_for(both_assigned, 1, 60, alive) == 1, first.log() + second.log()
    first_had, _ = owned()  # the group split the partitions between the two processes

    _produce(kafka_bootstrap, topic_prefix, envs[:3000])
    n = _wait_for(lambda: len(_sqlite_ids(db)), 500, 90, alive)
    assert 0 < n < 6000, first.log()
    first.stop(signal.SIGKILL)  # mid-stream: no clean leave, no last commit
    _produce(kafka_bootstrap, topic_prefix, envs[3000:])

    second_alive = lambda: second.proc.poll() is None  # noqa: E731
    _wait_for(lambda: len(_sqlite_ids(db)), 6000, 150, second_alive)
    time.sleep(2)  # records re-read after the takeover must not add rows
    ids = _sqlite_ids(db)
    second_log = second.log_path.read_text(errors="replace")
    assert second.stop() == 0, second.log()
    assert len(ids) == 6000 and set(ids) == {e.id for e in envs}, second_log[-3000:]
    took_over = _owned(second_log, "audit")
    assert first_had <= took_over, f"second never got {first_had - took_over}"
    verify = subprocess.run([str(ROOT / ".venv/bin/pipeline"), "audit", "verify", "--db", str(db)],
                            capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "OK:" in verify.stdout
