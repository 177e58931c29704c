"""One benchmark run of the whole product against the local broker, with its peers measured in the same run.

    .venv/bin/python ops/bench/run.py [--out bench-results.json] [--md bench-results.md] [--quick]

Phases (all on 127.0.0.1, each on its own topic prefix; every process started is stopped at the end):
  ceiling    kcat producing the raw records (acks=all, idempotent, lz4) vs EventProducer vs a bare loop
  sources    the poller path: fingerprint + dedup + produce, dedup bytes/record (tests/bench/bench_sources.py)
  normalize  one `pipeline worker --agent normalize --agent audit` on pre-loaded raw records (SQLite, PG)
  latency    encrypted new-mail callbacks -> ingest -> raw -> normalize -> rules -> dispatch -> delivery
  burst      alerts in distinct groups: receiver capacity, prometheus-alertmanager, our dispatch + delivery
  startup    `pipeline worker` start to /healthz 200: first start, after SIGTERM, after SIGKILL
Prints one table (name, value, unit, baseline, ratio, notes), writes it as JSON (--out) and markdown (--md).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import os
import platform
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _alerts import (
    Receiver,
    burst_alertmanager,
    burst_ours,
    burst_pairs_summary,
    push_latency,
    receiver_capacity,
    start_receiver,
)
from _procs import BenchError, Procs
from _records import raw_records
from _report import Row, markdown_table, text_table
from _startup import worker_startup
from _throughput import (
    Context,
    PhaseResult,
    cleanup_topics,
    ingest_ceiling,
    json_dump,
    normalize_sink,
    poller_path,
    remove_tree,
)

from pipeline.kafka import bootstrap_from_env

PHASES = ("ceiling", "sources", "normalize", "latency", "burst", "startup")


@dataclass(frozen=True, slots=True)
class Sizes:
    ceiling_records: int
    ceiling_rounds: int
    poller_records: int
    normalize_records: int
    pushes: int
    push_spacing: float
    bursts: tuple[int, ...]
    am_batch: int
    capacity_requests: int
    normalize_timeout: float
    burst_timeout: float
    burst_pairs: int  # alternating Alertmanager / ours bursts per size: one pair's verdict is a coin flip


FULL = Sizes(ceiling_records=200_000, ceiling_rounds=3, poller_records=100_000, normalize_records=50_000,
             pushes=1000, push_spacing=0.020, bursts=(5000, 20_000), am_batch=500, capacity_requests=10_000,
             normalize_timeout=240, burst_timeout=120, burst_pairs=5)
QUICK = Sizes(ceiling_records=20_000, ceiling_rounds=1, poller_records=10_000, normalize_records=5000,
              pushes=100, push_spacing=0.020, bursts=(500, 2000), am_batch=250, capacity_requests=2000,
              normalize_timeout=90, burst_timeout=60, burst_pairs=1)


class Run:
    """Rows and details of every phase; a failed phase becomes a row that says why, and the run goes on."""

    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.details: dict[str, Any] = {}
        self.phase_rows: dict[str, list[Row]] = {}  # every phase's rows, also those left out of the table

    async def phase(self, name: str, step: Callable[[], Awaitable[PhaseResult]], *,
                    table: bool = True) -> dict[str, Any] | None:
        """Run one phase; its rows go to the table unless `table` is False (the caller picks them later)."""
        load = os.getloadavg()[0]
        log(f"[{name}] ... (load {load:.2f})")
        started = time.monotonic()
        try:
            rows, detail = await step()
        except Exception as exc:  # one failed phase must not lose the others
            message = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
            trace = "" if isinstance(exc, BenchError) else traceback.format_exc()
            log(f"[{name}] FAILED: {exc}\n{trace}")
            self.phase_rows[name] = [Row(name, None, "", notes=f"FAILED: {message}")]
            if table:
                self.rows.extend(self.phase_rows[name])
            self.details[name] = {"error": str(exc)}
            return None
        detail["seconds"] = round(time.monotonic() - started, 1)
        detail["loadavg_1m_at_start"] = load
        self.phase_rows[name] = rows
        if table:
            self.rows.extend(rows)
        self.details[name] = detail
        log(f"[{name}] done in {detail['seconds']} s")
        return detail


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = QUICK if args.quick else FULL
    if args.burst_pairs is not None:
        if args.burst_pairs < 1:
            raise SystemExit("--burst-pairs must be at least 1")
        sizes = dataclasses.replace(sizes, burst_pairs=args.burst_pairs)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        raise SystemExit(f"unknown phase(s) {unknown}; phases are {', '.join(PHASES)}")
    run_id = f"bench{uuid.uuid4().hex[:8]}"
    tmp = Path(tempfile.mkdtemp(prefix=f"{run_id}-"))
    ctx = Context(bootstrap=args.bootstrap or bootstrap_from_env(), run_id=run_id, tmp=tmp, quick=args.quick,
                  profile=Path(args.profile) if args.profile else None)
    started = time.monotonic()
    meta: dict[str, Any] = {"started_at": datetime.now(UTC).isoformat(timespec="seconds"), "run_id": run_id,
                            "quick": args.quick, "bootstrap": ctx.bootstrap, "cpus": os.cpu_count(),
                            "python": platform.python_version(), "loadavg_at_start": os.getloadavg(),
                            "sizes": _sizes(sizes)}
    result = Run()
    log(f"bench run {run_id} on {ctx.bootstrap}, scratch {tmp}, phases {','.join(phases)}")
    records = raw_records(max(sizes.ceiling_records, sizes.normalize_records))
    kcat_rate: float | None = None
    try:
        if "ceiling" in phases:
            detail = await result.phase("ceiling", lambda: ingest_ceiling(
                ctx, records[:sizes.ceiling_records], sizes.ceiling_rounds))
            if detail:
                kcat_rate = float(sorted(detail["rates"]["kcat"])[len(detail["rates"]["kcat"]) // 2])
        if "sources" in phases:
            await result.phase("sources", lambda: poller_path(ctx, sizes.poller_records, kcat_rate))
        if "normalize" in phases:
            await _normalize_phases(result, ctx, records[:sizes.normalize_records], sizes, kcat_rate, args)
        if "startup" in phases:
            await result.phase("startup", lambda: worker_startup(ctx))
        if "latency" in phases or "burst" in phases:
            with Procs(tmp, tmp) as procs:
                receiver = start_receiver(procs)
                try:
                    await _alerting_phases(result, ctx, receiver, sizes, phases)
                finally:
                    await receiver.aclose()
    finally:
        if not args.keep:
            try:
                removed = cleanup_topics(ctx.bootstrap, run_id)
                log(f"deleted {removed} topics of {run_id}")
            except Exception as exc:  # cleanup is best effort
                log(f"topic cleanup failed: {exc}")
            remove_tree(tmp)
        else:
            log(f"kept topics {run_id}-* and scratch {tmp}")
    meta["seconds"] = round(time.monotonic() - started, 1)
    return {"meta": meta, "rows": [r.to_json() for r in result.rows], "details": result.details,
            "_rows": result.rows}


async def _normalize_phases(result: Run, ctx: Context, records: list[Any], sizes: Sizes, kcat_rate: float | None,
                            args: argparse.Namespace) -> None:
    """Per store: the baseline revision's worker (when --baseline), ours with one process (profiled with
    --profile), and ours with two processes in one consumer group (SQLite, and PostgreSQL)."""
    within = sizes.normalize_timeout
    for store in ("sqlite", "postgres"):
        before: float | None = None
        if args.baseline:
            detail = await result.phase(f"normalize-{store}-baseline", functools.partial(
                normalize_sink, ctx, records, store, within * 4, kcat_rate, baseline=args.baseline))
            before = detail["events_per_s"] if detail else None
        profile = Path(args.profile) / f"normalize-audit-{store}.txt" if args.profile else None
        await result.phase(f"normalize-{store}", functools.partial(
            normalize_sink, ctx, records, store, within, kcat_rate, baseline_rate=before, profile=profile))
        await result.phase(f"normalize-{store}-2p", functools.partial(
            normalize_sink, ctx, records, store, within, kcat_rate, workers=2, baseline_rate=before))


def _sizes(sizes: Sizes) -> dict[str, Any]:
    return {k: getattr(sizes, k) for k in Sizes.__dataclass_fields__}


async def _alerting_phases(result: Run, ctx: Context, receiver: Receiver, sizes: Sizes,
                           phases: list[str]) -> None:
    if "latency" in phases:
        await result.phase("latency", lambda: push_latency(ctx, receiver, sizes.pushes, sizes.push_spacing))
    if "burst" in phases:

        async def capacity() -> PhaseResult:
            return receiver_capacity(receiver, sizes.capacity_requests)

        await result.phase("receiver", capacity)
        for n in sizes.bursts:
            pairs: list[tuple[str, str]] = []
            for i in range(sizes.burst_pairs):  # at least 1: checked in run()
                suffix = f"-pair{i + 1}" if i else ""
                pair = (f"alertmanager-{n}{suffix}", f"burst-{n}{suffix}")
                here = _pair_context(ctx, i)  # both sides start clean: the warm-up alert is new to each
                am = await result.phase(pair[0], _burst_step(burst_alertmanager, here, receiver, n, sizes.am_batch,
                                                             sizes.burst_timeout), table=False)
                await result.phase(pair[1], _burst_step(burst_ours, here, receiver, n, sizes.burst_timeout, am),
                                   table=False)
                pairs.append(pair)
                if i == 0:
                    await result.phase(f"burst-{n}-x2", _burst_step(burst_ours, ctx, receiver, n,
                                                                    sizes.burst_timeout, am, "1s", 2), table=False)
            median, summary = burst_pairs_summary(n, [(result.details.get(a), result.details.get(o))
                                                      for a, o in pairs])
            chosen = pairs[median] if median is not None else pairs[0]
            for name in (*chosen, f"burst-{n}-x2"):
                result.rows.extend(result.phase_rows.get(name, []))
            if summary is not None:
                result.rows.append(summary)


def _pair_context(ctx: Context, index: int) -> Context:
    """The context of a burst pair after the first: its own topics (a run-id suffix, so the run's cleanup still
    deletes them) and its own scratch directory (Alertmanager keeps its notification log there), so neither side
    finds the earlier pair's groups and notification log."""
    if index == 0:
        return ctx
    tmp = ctx.tmp / f"pair{index + 1}"
    tmp.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(ctx, run_id=f"{ctx.run_id}p{index + 1}", tmp=tmp)


def _burst_step(fn: Callable[..., Awaitable[PhaseResult]], *args: Any) -> Callable[[], Awaitable[PhaseResult]]:
    return lambda: fn(*args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bench-results.json", help="JSON results (default: %(default)s)")
    parser.add_argument("--md", default=None, help="also write the table as markdown here")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of every phase")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated subset of: %(default)s")
    parser.add_argument("--bootstrap", default=None,
                        help="Kafka bootstrap (default: EXMAIL_KAFKA_BOOTSTRAP or .state)")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and scratch directory")
    parser.add_argument("--baseline", default=None, metavar="REV",
                        help="also run the normalize phase with this git revision's worker (same run, for ratios)")
    parser.add_argument("--burst-pairs", type=int, default=None, metavar="N",
                        help="alternating Alertmanager / ours bursts per size (default: 5, --quick 1); the table "
                             "shows the pair with the median rate ratio and counts the pairs that met the target")
    parser.add_argument("--profile", default=None, metavar="DIR",
                        help="py-spy (raw collapsed stacks) into DIR: the one-process normalize+audit workers and "
                             "the burst's dispatch and delivery workers")
    args = parser.parse_args()
    if args.profile:
        args.profile = str(Path(args.profile).resolve())  # the workers run in the scratch directory
    summary = asyncio.run(run(args))
    rows: list[Row] = summary.pop("_rows")
    meta = summary["meta"]
    header = (f"exmail pipeline bench {meta['run_id']} ({'quick' if meta['quick'] else 'full'}), "
              f"{meta['cpus']} CPUs, Python {meta['python']}, {meta['seconds']} s, "
              f"load at start {meta['loadavg_at_start'][0]:.2f}")
    print(header)
    print(text_table(rows))
    json_dump(Path(args.out), summary)
    print(f"JSON written to {args.out}")
    if args.md:
        Path(args.md).write_text(f"{header}\n\n{markdown_table(rows)}\n", encoding="utf-8")
        print(f"markdown written to {args.md}")


if __name__ == "__main__":
    main()
