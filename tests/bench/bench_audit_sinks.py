"""Audit store write throughput: events/s of `write_batch` (batch 500) on SQLite and PostgreSQL.

    .venv/bin/python tests/bench/bench_audit_sinks.py [out.json] [--events N] [--batch N]

PostgreSQL comes from EXMAIL_POSTGRES_DSN or ops/postgres/postgres.sh (it must be running); both PostgreSQL
write methods are measured (COPY and a multi-row INSERT from arrays), each in a throwaway schema. A replay pass
(the same batches again: all duplicates) is measured too, since at-least-once delivery makes replays normal.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from pipeline.envelope import Envelope, fingerprint, utc_iso  # noqa: E402
from pipeline.sinks.audit.postgres import PostgresAuditStore  # noqa: E402
from pipeline.sinks.audit.postgres.store import WriteMethod  # noqa: E402
from pipeline.sinks.audit.sqlite import SqliteAuditStore  # noqa: E402
from pipeline.sinks.audit.store import AuditStore  # noqa: E402

START = 1_793_800_000  # 2026-11-04
USERS = [f"user{i:04d}@corp{i % 3}.example.com" for i in range(2000)]


def realistic_event(i: int, rng: random.Random) -> Envelope:
    """A normalized event shaped like the normalize transform's output (ECS + OCSF + original fields)."""
    corp = f"corp{i % 3}"
    user = rng.choice(USERS)
    ts = START + i // 5
    kind = rng.choices(["mail_log", "login_log", "operation_log"], weights=[6, 3, 1])[0]
    occurred = utc_iso(ts)
    event: dict[str, Any] = {"kind": "event", "dataset": f"exmail.{kind}", "id": None}
    data: dict[str, Any] = {"@timestamp": occurred, "user": {"email": user, "name": user.split("@")[0],
                                                            "domain": user.split("@")[1]}}
    if kind == "mail_log":
        out = rng.random() < 0.5
        peer = f"contact{rng.randrange(10_000)}@partner{rng.randrange(50)}.example.org"
        status = rng.choice([3, 3, 3, 13, 14, 2, 4])
        event.update(category=["email"], type=["info"], action="mail-send" if out else "mail-receive",
                     outcome="success" if status in (3, 13, 14) else "failure")
        data["email"] = {"direction": "outbound" if out else "inbound", "subject": f"Quarterly report {i} \u62a5\u544a",
                         "from": {"address": [user if out else peer]}, "to": {"address": [peer if out else user]}}
        data["ocsf"] = {"class_uid": 4009, "activity_id": 1 if out else 2, "status_id": 1}
        data["exmail"] = {"mail_log": {"mailtype": 1 if out else 2, "status": status, "time": ts}}
        data["related"] = {"user": [user, peer]}
    elif kind == "login_log":
        ip = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        event.update(category=["authentication", "session"], type=["start"], action="login", outcome="success")
        data["source"] = {"ip": ip}
        data["ocsf"] = {"class_uid": 3002, "activity_id": 1, "logon_type_id": rng.randrange(1, 6)}
        data["exmail"] = {"login_log": {"type": rng.randrange(1, 6), "ip": ip, "time": ts}}
        data["related"] = {"ip": [ip], "user": [user]}
    else:
        op = rng.randrange(1, 42)
        event.update(category=["iam"], type=["change"], action=f"operation-{op}", outcome="success")
        data["ocsf"] = {"class_uid": 3001, "activity_id": 3}
        data["exmail"] = {"operation_log": {"type": op, "operator": user, "operand": rng.choice(USERS), "time": ts}}
    eid = fingerprint("bench", corp, i)
    event["id"] = eid
    data["event"] = event
    return Envelope(schema="exmail.event/1", id=eid, corp_id=corp, source="normalize", occurred_at=occurred,
                    observed_at=utc_iso(ts + 30), data=data)


async def measure(store: AuditStore, batches: list[list[Envelope]]) -> dict[str, Any]:
    """Write every batch once (fresh), then again (replay); events/s and per-batch latency for both."""
    out: dict[str, Any] = {}
    for phase in ("fresh", "replay"):
        latencies: list[float] = []
        total = 0
        started = time.perf_counter()
        for n, batch in enumerate(batches):
            t0 = time.perf_counter()
            result = await store.write_batch(batch, n % 6)
            latencies.append(time.perf_counter() - t0)
            total += result.inserted if phase == "fresh" else result.duplicates
        elapsed = time.perf_counter() - started
        latencies.sort()
        out[phase] = {"events": total, "seconds": round(elapsed, 3), "events_per_s": round(total / elapsed),
                      "batch_p50_ms": round(statistics.median(latencies) * 1000, 1),
                      "batch_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1)}
    report = await store.verify()
    out["verify_ok"] = report.ok
    return out


def postgres_dsn() -> str | None:
    if os.environ.get("EXMAIL_POSTGRES_DSN"):
        return os.environ["EXMAIL_POSTGRES_DSN"]
    script = ROOT / "ops" / "postgres" / "postgres.sh"
    if subprocess.run([str(script), "status"], capture_output=True, check=False).returncode != 0:
        return None
    return subprocess.run([str(script), "dsn"], capture_output=True, text=True, check=True).stdout.strip()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    events = [realistic_event(i, rng) for i in range(args.events)]
    batches = [events[i:i + args.batch] for i in range(0, len(events), args.batch)]
    avg_bytes = sum(len(e.encode()) for e in events) // len(events)
    results: dict[str, Any] = {}

    with tempfile.TemporaryDirectory() as tmp:
        store = await SqliteAuditStore.open(Path(tmp) / "bench.db")
        try:
            results["sqlite"] = await measure(store, batches)
        finally:
            await store.close()

    dsn = postgres_dsn()
    if dsn is None:
        print("PostgreSQL is not running (ops/postgres/postgres.sh start): skipped", file=sys.stderr)
    else:
        methods: tuple[WriteMethod, ...] = ("copy", "unnest")
        for method in methods:
            schema = f"bench_audit_{uuid.uuid4().hex[:8]}"
            pg = await PostgresAuditStore.open(dsn, schema=schema, write_method=method)
            try:
                results[f"postgres_{method}"] = await measure(pg, batches)
            finally:
                await pg.close()
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    return {"events": args.events, "batch": args.batch, "avg_event_bytes": avg_bytes, "cpus": os.cpu_count(),
            "python": platform.python_version(), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("out", nargs="?", default="bench_audit_sinks.json", help="JSON results path")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    results, avg_bytes = summary["results"], summary["avg_event_bytes"]
    print(f"audit write_batch, {args.events} events of ~{avg_bytes} B, batch {args.batch}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"{'store':<18}{'fresh ev/s':>12}{'p50 ms':>9}{'p95 ms':>9}{'replay ev/s':>13}{'verify':>8}")
    for name, r in results.items():
        f, rp = r["fresh"], r["replay"]
        print(f"{name:<18}{f['events_per_s']:>12}{f['batch_p50_ms']:>9}{f['batch_p95_ms']:>9}"
              f"{rp['events_per_s']:>13}{'ok' if r['verify_ok'] else 'BROKEN':>8}")
    Path(args.out).write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
