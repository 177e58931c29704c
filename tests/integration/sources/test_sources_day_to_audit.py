"""A simulated day end to end: simulator -> pollers -> raw topics -> `pipeline worker` (normalize + audit on
SQLite) -> the audit table holds each ground-truth log record exactly once, and polling again adds nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from pipeline.ingest import Ingest

pytestmark = pytest.mark.integration
LOG_KINDS = ("mail_log", "login_log", "operation_log", "batchjob_log")


def _audit_ids(db: Path) -> list[str]:
    if not db.exists():
        return []
    try:
        with sqlite3.connect(db, timeout=5) as conn:
            return [r[0] for r in conn.execute("select id from audit_records")]
    except sqlite3.OperationalError:
        return []


async def _poll(ingest: Ingest) -> None:
    for corp in ingest.corps.values():
        directory = corp.pollers["directory"]
        if not corp.runtime.directory.ready.is_set():
            await directory.prepare()
        for poller in [directory, *(corp.pollers[k] for k in LOG_KINDS)]:
            for _ in range(40):
                if await poller.run_once():
                    break


async def test_simulated_day_lands_in_the_audit_store_exactly_once(
        sim: Any, make_config: Any, topic_prefix: str, kafka_bootstrap: str, day: str, today: str,
        tmp_path: Path) -> None:
    await sim.admin.generate(day, mail_records=2000, login_records=500, operation_records=50, batchjob_records=10,
                             late_fraction=0.2)
    await sim.admin.set_clock(f"{today}T10:00:00+08:00")
    ingest = Ingest(make_config(sim, streams=["directory", *LOG_KINDS]), clock=sim.sim.clock)
    await ingest.open()
    for corp in ingest.corps.values():
        for kind in LOG_KINDS:
            await corp.pollers[kind].prepare()
    db = tmp_path / "audit.db"
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once; the worker runs on its own
        [sys.executable, "-m", "pipeline.cli", "worker", "--bootstrap", kafka_bootstrap, "--prefix", topic_prefix,
         "--app-id", f"{topic_prefix}day", "--http-port", "0", "--agent", "normalize", "--agent", "audit",
         "--sqlite", str(db)], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        await _poll(ingest)
        truth: Counter[str] = Counter()
        for kind in LOG_KINDS:
            for d in (day, today):
                for rec in await sim.admin.truth(kind, date=d, visible_only=True):
                    truth[rec["id"]] += 1
        assert sum(truth.values()) >= 2500
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and worker.poll() is None:
            if len(set(_audit_ids(db)) & set(truth)) >= len(truth):
                break
            await asyncio.sleep(0.5)
        await _poll(ingest)  # polling again adds nothing downstream either
        await asyncio.sleep(3)
        stored = Counter(i for i in _audit_ids(db) if i in truth)
        worker_log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
        assert set(stored) == set(truth), f"{len(set(truth) - set(stored))} missing\n{worker_log}"
        assert max(stored.values()) == 1
    finally:
        await ingest.close()
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
        log.close()
