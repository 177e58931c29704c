"""CPU per row of the SQLite audit store's writer: SQLite's defaults (2 MiB page cache, a WAL checkpoint every
1,000 pages) against the store's settings (`worker.audit.sqlite_cache_mib` / `sqlite_checkpoint_pages`).

    python ops/bench/sqlite_writer.py [--rows 200000] [--batch 2000] [--rounds 3]

Each round writes `rows` rows of ~2.3 KB (the size of a normalized event) into a new file, in batches of
`batch` over four chains, with the store's own write path (`SqliteAuditStore._write`: one transaction per batch,
synchronous=FULL, five secondary indexes), and reports the writing thread's CPU time and the wall time per row.
Rounds alternate between the two settings; the median round of each is reported with the ratio. Measured on
the 2-core machine (session 5): 50,000 rows 41.5 -> 31.4 us of CPU per row (0.76x), 200,000 rows 63.1 -> 49.4
(0.78x), 600,000 rows 70.0 -> 56.6 (0.81x, one round). The cost per row grows with the file either way.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.sinks.audit._rows import PreparedRow, occurred_text
from pipeline.sinks.audit.sqlite.store import DEFAULT_CACHE_MIB, DEFAULT_CHECKPOINT_PAGES, SqliteAuditStore

SETTINGS = {"sqlite-defaults": (2, 1000), "store": (DEFAULT_CACHE_MIB, DEFAULT_CHECKPOINT_PAGES)}
KINDS = ("exmail.mail_log", "exmail.login_log", "exmail.operation_log", "exmail.new_mail")


def batches(rows: int, size: int, seed: int) -> list[list[tuple[int, list[PreparedRow]]]]:
    rnd = random.Random(seed)
    start = datetime(2026, 12, 1, tzinfo=UTC)
    users = [f"user{i}@corp.example" for i in range(2000)]
    out = []
    for b in range(rows // size):
        chains: dict[int, list[PreparedRow]] = {}
        for i in range(size):
            ts = start + timedelta(milliseconds=b * size + i)
            chains.setdefault(i % 4, []).append(PreparedRow(
                id=f"ev-{b}-{i}-{rnd.getrandbits(64):016x}", corp_id="corp1", occurred_at=ts, schema="ecs",
                kind=rnd.choice(KINDS), action="send", user=rnd.choice(users),
                source_ip=f"10.0.{rnd.randrange(256)}.{rnd.randrange(256)}", outcome="success", source="bench",
                record="x" * 2300, occurred_text=occurred_text(ts)))
        out.append(sorted(chains.items()))
    return out


def one_round(work: list[list[tuple[int, list[PreparedRow]]]], cache_mib: int, pages: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory(prefix="sqlite-writer-") as tmp:
        con = SqliteAuditStore._connect_writer(Path(tmp) / "audit.db", 10.0, cache_mib, pages)
        store = SqliteAuditStore(Path(tmp) / "audit.db", None, con)  # type: ignore[arg-type]  # no executor: direct calls
        rows = sum(len(r) for chains in work for _, r in chains)
        cpu, wall = time.thread_time(), time.perf_counter()
        for chains in work:
            store._write(chains)
        cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
        con.close()
    return 1e6 * cpu / rows, 1e6 * wall / rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    work = batches(args.rows, args.batch, seed=1)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, (cache, pages) in SETTINGS.items():
            results[name].append(one_round(work, cache, pages))
    print(f"{'settings':<18} {'cache MiB':>9} {'ckpt pages':>10} {'CPU us/row':>10} {'wall us/row':>11}")
    medians = {}
    for name, (cache, pages) in SETTINGS.items():
        cpu = statistics.median(c for c, _ in results[name])
        wall = statistics.median(w for _, w in results[name])
        medians[name] = cpu
        print(f"{name:<18} {cache:>9} {pages:>10} {cpu:>10.1f} {wall:>11.1f}")
    print(f"store / defaults, CPU per row: {medians['store'] / medians['sqlite-defaults']:.2f}x "
          f"({args.rows:,} rows, batches of {args.batch:,}, median of {args.rounds} rounds)")


if __name__ == "__main__":
    main()
