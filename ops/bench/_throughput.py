"""Throughput phases: the ingest ceiling (kcat vs our producer), the poller path, normalize + audit sink."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import yaml
from _procs import ROOT, BenchError, Procs
from _records import RawRecord, kcat_files
from _report import Row
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics, producer_config

KCAT = "/usr/bin/kcat"
PYTHON_BIN = sys.executable
AUDIT_DSN_ENV = "EXMAIL_BENCH_AUDIT_DSN"


PhaseResult = tuple[list[Row], dict[str, Any]]


@dataclass(slots=True)
class Context:
    """What every phase needs: the broker, a run id for topic prefixes, a scratch dir, the time budget."""

    bootstrap: str
    run_id: str
    tmp: Path
    quick: bool
    profile: Path | None = None  # py-spy profiles of the burst workers go here (--profile)

    def prefix(self, phase: str) -> str:
        return f"{self.run_id}-{phase}."

    def topics(self, phase: str, partitions: int = 6) -> TopicNames:
        """Create the phase's topics and wait until the ones the phases write have partition leaders."""
        names = TopicNames(self.prefix(phase))
        ensure_topics(self.bootstrap, prefix=names.prefix, partitions=partitions)
        wm = Watermarks(self.bootstrap)
        try:
            for topic in (names.raw("mail_log"), names.raw("login_log"), names.raw("new_mail"), names.events,
                          names.alerts, names.notifications):
                wm.total(topic)
        finally:
            wm.close()
        return names


# ------------------------------------------------------------------------------------------ watermarks

class Watermarks:
    """Record counts of topics (sum of high watermarks over partitions), without joining a group."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-wm-{uuid.uuid4().hex}",
                                   "enable.auto.commit": False})
        self._partitions: dict[str, list[int]] = {}

    def total(self, topic: str, within: float = 20.0) -> int:
        """Retries while a new topic's partitions have no leader yet."""
        deadline = time.monotonic() + within
        while True:
            try:
                return self._total(topic)
            except KafkaException:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _total(self, topic: str) -> int:
        if topic not in self._partitions:
            meta = self._consumer.list_topics(topic, timeout=10)
            self._partitions[topic] = sorted(meta.topics[topic].partitions)
        return sum(self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
                   for p in self._partitions[topic])

    def close(self) -> None:
        self._consumer.close()


# ------------------------------------------------------------------------------------------ ingest ceiling

@contextlib.contextmanager
def _profiled(ctx: Context, name: str) -> Iterator[None]:
    """With --profile: py-spy samples this (the bench) process while the block runs, into DIR/<name>.txt.
    py-spy reads the process's memory without pausing it, but a profiled run's rates are not the ones to
    report: profile in a run of its own."""
    spy = _spy(os.getpid(), ctx.profile / f"{name}.txt") if ctx.profile is not None else None
    if spy is not None:
        time.sleep(1.0)  # attach before the timed part starts
    try:
        yield
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)


async def _produce_ours(bootstrap: str, names: TopicNames, records: list[RawRecord]) -> float:
    started = time.perf_counter()
    producer = EventProducer(KafkaSettings(bootstrap=bootstrap))
    failed = [o for o in await producer.send_batch((names.raw(r.topic_kind), r.key, r.envelope) for r in records)
              if o is not None]
    if failed:
        raise BenchError(f"EventProducer: {len(failed)} records not delivered: {failed[0]}")
    left = producer.close()
    if left:
        raise BenchError(f"EventProducer left {left} records undelivered")
    return time.perf_counter() - started


def _produce_bare(bootstrap: str, names: TopicNames, records: list[RawRecord]) -> float:
    """A bare confluent-kafka loop (encode + produce + poll), the same settings as EventProducer."""
    started = time.perf_counter()
    producer = Producer(producer_config(KafkaSettings(bootstrap=bootstrap)))
    for n, r in enumerate(records):
        while True:
            try:
                producer.produce(names.raw(r.topic_kind), value=r.envelope.encode(), key=r.key)
                break
            except BufferError:
                producer.poll(0.05)
        if n % 1000 == 0:
            producer.poll(0)
    if producer.flush(60):
        raise BenchError("bare producer left records undelivered")
    return time.perf_counter() - started


def _produce_kcat(bootstrap: str, names: TopicNames, files: dict[str, Path]) -> float:
    started = time.perf_counter()
    for kind, path in files.items():
        subprocess.run([KCAT, "-P", "-b", bootstrap, "-t", names.raw(kind), "-K", "\t", "-z", "lz4",
                        "-X", "acks=all", "-X", "enable.idempotence=true", "-X", "linger.ms=5",
                        "-X", "batch.size=131072", "-X", "partitioner=murmur2_random", "-l", str(path)],
                       check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def _require_kcat() -> None:
    if not Path(KCAT).exists():
        raise BenchError(f"{KCAT} is missing (apt-get install -y kcat)")


async def ingest_ceiling(ctx: Context, records: list[RawRecord], rounds: int) -> PhaseResult:
    """The same raw records produced by kcat, by EventProducer.send_many and by a bare confluent loop."""
    _require_kcat()
    names = ctx.topics("ceiling")
    files = kcat_files(records, ctx.tmp)
    wm = Watermarks(ctx.bootstrap)
    topics = sorted({names.raw(r.topic_kind) for r in records})
    n = len(records)
    times: dict[str, list[float]] = {"kcat": [], "ours": [], "bare": []}
    runners: dict[str, Callable[[], Any]] = {
        "kcat": lambda: _produce_kcat(ctx.bootstrap, names, files),
        "ours": lambda: _produce_ours(ctx.bootstrap, names, records),
        "bare": lambda: _produce_bare(ctx.bootstrap, names, records),
    }
    try:
        for round_no in range(rounds):
            for name, run in runners.items():
                before = sum(wm.total(t) for t in topics)
                profiled = name == "ours" and round_no == 0
                with _profiled(ctx, "producer-send-batch") if profiled else contextlib.nullcontext():
                    result = run()
                    seconds = await result if asyncio.iscoroutine(result) else result
                delivered = sum(wm.total(t) for t in topics) - before
                if delivered != n:
                    raise BenchError(f"{name} delivered {delivered} of {n} records")
                times[name].append(float(seconds))
    finally:
        wm.close()
    rates = {k: [n / s for s in v] for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in rates.items()}
    avg_bytes = sum(len(r.envelope.encode()) for r in records) / n

    def spread(k: str) -> str:
        return f"{min(rates[k]):,.0f}-{max(rates[k]):,.0f}" if len(rates[k]) > 1 else ""

    kcat_note = f"median of {rounds}; kcat {spread('kcat')}" if rounds > 1 else "1 round"
    rows = [
        Row("ingest ceiling: kcat raw produce", med["kcat"], "msg/s", notes=(
            f"{n:,} records of ~{avg_bytes:.0f} B, acks=all, idempotent, lz4, murmur2; {kcat_note}")),
        Row("ingest: EventProducer.send_batch", med["ours"], "msg/s", med["kcat"], "kcat",
            notes=f"envelope encode + produce, error-only delivery reports drained once per batch (what "
                  f"sources and normalize use); {spread('ours')}".rstrip("; ")),
        Row("ingest: bare confluent-kafka loop", med["bare"], "msg/s", med["kcat"], "kcat",
            notes=f"encode + produce + poll, no futures; {spread('bare')}".rstrip("; ")),
    ]
    return rows, {"records": n, "avg_bytes": round(avg_bytes), "rounds": rounds,
                  "rates": {k: [round(x) for x in v] for k, v in rates.items()}}


# ------------------------------------------------------------------------------------------ poller path

def _load_bench_sources() -> ModuleType:
    path = ROOT / "tests" / "bench" / "bench_sources.py"
    spec = importlib.util.spec_from_file_location("bench_sources", path)
    if spec is None or spec.loader is None:
        raise BenchError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def poller_path(ctx: Context, n: int, kcat_rate: float | None) -> PhaseResult:
    """tests/bench/bench_sources.py's stages: build (fingerprint + dedup + envelope), a full poll run into
    Kafka (+ delivery reports + cursor), a re-poll (all dedup hits), and dedup bytes per record."""
    from pipeline.exmail._parse import MailLog, decode_payload, parse_model
    from pipeline.kafka.reader import KafkaReader
    from pipeline.sources._emit import Emitter
    from pipeline.sources._runtime import CorpRuntime
    from pipeline.sources._window import CorpCalendar
    from pipeline.sources.config import CorpConfig
    from pipeline.sources.logs import LogPoller

    bs = _load_bench_sources()
    recs = bs.records(n)
    corp_cfg = CorpConfig(name="bench", corp_id="wwbench0000000000")
    corp = CorpRuntime(config=corp_cfg, client=bs.BenchClient(recs), calendar=CorpCalendar(480))

    null_names = TopicNames("bench.")
    null_emitter = Emitter(bs.NullProducer(), null_names)
    null_rt = bs.runtime(null_emitter, bs.NullReader(), null_names, bs.NullProducer())
    started = time.perf_counter()
    built = LogPoller(null_rt, corp, "mail_log").build(bs.DAY, bs.DAY, [(None, recs)])
    build_s = time.perf_counter() - started

    parsing = bs.ParsingClient(recs)
    started = time.perf_counter()
    await parsing.log_mail_rows(bs.DAY, bs.DAY)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    parse_model(MailLog, decode_payload(parsing.body, "log/mail"), "log/mail")
    models_s = time.perf_counter() - started

    # three rounds, each on its own topics (so its own cursor and dedup state): one round's rate swung
    # 0.19-0.34x kcat between runs on the same code, so the table gives the median
    rounds: list[tuple[float, float]] = []
    for i in range(3):
        names = ctx.topics(f"sources-{i}")
        producer = EventProducer(KafkaSettings(bootstrap=ctx.bootstrap, topic_prefix=names.prefix))
        corp = CorpRuntime(config=corp_cfg, client=bs.ParsingClient(recs), calendar=CorpCalendar(480))
        try:
            rt = bs.runtime(Emitter(producer, names), KafkaReader(ctx.bootstrap), names, producer)
            await rt.cursors.load()
            poller = LogPoller(rt, corp, "mail_log")
            await poller.prepare()
            with _profiled(ctx, "poller-full-run") if i == 0 else contextlib.nullcontext():
                started = time.perf_counter()
                produced = await poller.run_window()
                full_s = time.perf_counter() - started
            started = time.perf_counter()
            again = await poller.run_window()
            rounds.append((full_s, time.perf_counter() - started))
        finally:
            producer.close()
        if produced != n or again != 0:
            raise BenchError(f"poll run produced {produced} of {n}, re-poll produced {again}")
    produce_s = sorted(r[0] for r in rounds)[1]
    repoll_s = sorted(r[1] for r in rounds)[1]
    full_rates = ", ".join(f"{n / r[0]:,.0f}" for r in rounds)
    packed, plain = bs.bytes_per_record(min(n, 200_000))
    rows = [
        Row("poller: build (fingerprint+dedup+envelope)", len(built) / build_s, "rec/s",
            notes="in memory, no Kafka"),
        Row("poller: client parsing (body -> validated records)", n / parse_s, "rec/s",
            notes="decode_payload + MAIL_ROWS (one msgspec check of the page), as ExmailClient.log_mail_rows "
                  "after the HTTP answer"),
        Row("client parsing into models (log_mail)", n / models_s, "rec/s",
            notes="decode_payload + parse_model(MailLog): the typed API, one pydantic model per record"),
        Row("poller: full run into Kafka", n / produce_s, "rec/s", kcat_rate, "kcat",
            notes=f"{n:,} mail_log records: client parsing + fingerprint + dedup + envelope + produce, "
                  f"delivery reports + cursor save; median of 3 ({full_rates})"),
        Row("poller: re-poll (all dedup hits)", n / repoll_s, "rec/s"),
        Row("poller: dedup state per record", packed, "bytes", plain, "set[bytes]",
            notes="packed DigestSet (tracemalloc)"),
    ]
    return rows, {"records": n, "parse_s": parse_s, "models_parse_s": models_s, "build_s": build_s,
                  "produce_s": produce_s, "repoll_s": repoll_s,
                  "dedup_bytes_packed": packed, "dedup_bytes_set": plain}


# ------------------------------------------------------------------------------------------ normalize + sink

def postgres_dsn() -> str | None:
    """EXMAIL_POSTGRES_DSN, else the cluster of ops/postgres/postgres.sh when it is running."""
    if os.environ.get("EXMAIL_POSTGRES_DSN"):
        return os.environ["EXMAIL_POSTGRES_DSN"]
    script = ROOT / "ops" / "postgres" / "postgres.sh"
    if subprocess.run([str(script), "status"], capture_output=True, check=False).returncode != 0:
        return None
    return subprocess.run([str(script), "dsn"], capture_output=True, text=True, check=True).stdout.strip()


def _sqlite_count(path: Path) -> Callable[[], int]:
    def count() -> int:
        if not path.exists():
            return 0
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as conn:
                return int(conn.execute("SELECT count(*) FROM audit_records").fetchone()[0])
        except sqlite3.Error:
            return 0
    return count


def _postgres_count(dsn: str, schema: str) -> tuple[Callable[[], int], Callable[[], None]]:
    import psycopg
    from psycopg import sql

    conn = psycopg.connect(dsn, autocommit=True)
    query = sql.SQL("SELECT count(*) FROM {}.audit_records").format(sql.Identifier(schema))

    def count() -> int:
        try:
            row = conn.execute(query).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        return int(row[0]) if row else 0

    def drop() -> None:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.close()

    return count, drop


def baseline_tree(ctx: Context, rev: str) -> Path:
    """The source tree of `rev` (git archive into the scratch dir): its worker runs with PYTHONPATH pointing
    there, on the same interpreter, broker and database as ours, so the before/after ratio is of one run."""
    dest = ctx.tmp / f"baseline-{rev[:12]}"
    if not dest.exists():
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "pipeline"], capture_output=True,
                                 check=True, timeout=120).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=120)
    return dest


def _spy(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling every thread of `pid` (raw collapsed stacks); None when py-spy is not installed."""
    spy = Path(PYTHON_BIN).with_name("py-spy")
    if not spy.exists():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([str(spy), "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                             "--threads", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def normalize_sink(ctx: Context, records: list[RawRecord], store: str, within: float,
                         kcat_rate: float | None, *, workers: int = 1, baseline: str | None = None,
                         baseline_rate: float | None = None, profile: Path | None = None) -> PhaseResult:
    """Pre-load the raw records on a fresh prefix, start `workers` x `pipeline worker --agent normalize --agent
    audit` (one consumer group), and time from the first normalized event on exmail.events until the store
    holds every row. `baseline` (a git rev) runs that revision's worker instead."""
    tag = f"{store}-{workers}p" + (f"-{baseline[:8]}" if baseline else "")
    phase = f"normalize-{tag}"
    names = ctx.topics(phase)
    await _produce_ours(ctx.bootstrap, names, records)
    n = len(records)
    config: dict[str, Any] = {"worker": {"http_port": 0}}
    env: dict[str, str] = {}
    if baseline:
        env["PYTHONPATH"] = str(baseline_tree(ctx, baseline))
    drop: Callable[[], None] = lambda: None  # noqa: E731
    if store == "sqlite":
        db = ctx.tmp / f"{phase}.db"
        config["worker"]["audit"] = {"kind": "sqlite", "path": str(db)}
        count = _sqlite_count(db)
    else:
        dsn = postgres_dsn()
        if dsn is None:
            raise BenchError("PostgreSQL is not running (ops/postgres/postgres.sh start)")
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        config["worker"]["audit"] = {"kind": "postgres", "dsn": f"env:{AUDIT_DSN_ENV}", "pg_schema": schema}
        env[AUDIT_DSN_ENV] = dsn
        count, drop = _postgres_count(dsn, schema)
    cfg_path = ctx.tmp / f"{phase}.yaml"
    cfg_path.write_text(yaml.safe_dump(config))
    wm = Watermarks(ctx.bootstrap)
    samples: list[tuple[float, int, int]] = []
    spy: subprocess.Popen[bytes] | None = None
    try:
        with Procs(ctx.tmp, ctx.tmp) as procs:
            launched = time.time()
            procs_ = [procs.worker(f"worker-{phase}-{i}", cfg_path, ctx.bootstrap, names.prefix,
                                   ["normalize", "audit"], env=env) for i in range(workers)]
            deadline = time.monotonic() + within
            first_event = events_done = None
            cpu_at_first = 0.0
            rows_now = 0
            while rows_now < n:
                for w in procs_:
                    w.check()
                if time.monotonic() > deadline:
                    raise BenchError(f"{store}: {rows_now} of {n} rows after {within:.0f} s\n{procs_[0].tail()}")
                await asyncio.sleep(0.05)
                events_now = wm.total(names.events)
                rows_now = count()
                t = time.time()
                samples.append((t, events_now, rows_now))
                if first_event is None and events_now > 0:
                    first_event, cpu_at_first = t, sum(w.cpu() for w in procs_)
                    if profile is not None:
                        spy = _spy(procs_[0].pid, profile)
                if events_done is None and events_now >= n:
                    events_done = t
                for w in procs_:
                    w.sample_rss()
            done = time.time()
            worker_cpu = sum(w.cpu() for w in procs_) - cpu_at_first
            peak = max(w.sample_rss() or 0.0 for w in procs_)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
    finally:
        wm.close()
        drop()
        if spy is not None and spy.poll() is None:
            spy.kill()
    assert first_event is not None
    seconds = done - first_event
    rate = n / seconds
    normalize_rate = n / (events_done - first_event) if events_done and events_done > first_event else None
    notes = (f"{n:,} raw records (70% mail/30% login), 6 partitions; timed from the first normalized event "
             f"(start-up {first_event - launched:.1f} s excluded)")
    if normalize_rate:
        notes += f"; exmail.events complete at {normalize_rate:,.0f}/s"
    notes += (f"; worker CPU {worker_cpu / seconds:.0%} of a core, {worker_cpu / n * 1e6:,.0f} us/event "
              f"(CPU-bound ceiling {n / worker_cpu:,.0f}/s per core)")
    step = max(1, len(samples) // 60)
    label = "SQLite" if store == "sqlite" else "PostgreSQL"
    who = f"baseline {baseline[:8]}" if baseline else ("1 worker" if workers == 1 else f"{workers} workers")
    name = f"normalize+audit ({label}), {who}"
    if baseline_rate:
        main = Row(name, rate, "events/s", baseline_rate, "baseline", notes=notes)
    else:
        main = Row(name, rate, "events/s", kcat_rate, "kcat raw", notes=notes)
    out = [main, Row(f"{name}: peak RSS", peak, "MiB", notes="VmHWM, largest process")]
    return out, {"records": n, "seconds": seconds, "startup_s": first_event - launched, "workers": workers,
                 "baseline": baseline, "events_per_s": rate, "normalize_events_per_s": normalize_rate,
                 "peak_rss_mib": peak, "worker_cpu_us_per_event": worker_cpu / n * 1e6,
                 "worker_core_share": worker_cpu / seconds,
                 "progress": [(round(t - first_event, 2), e, r) for t, e, r in samples[::step]]}


def cleanup_topics(bootstrap: str, run_id: str) -> int:
    """Delete every topic of this run (its prefixes and the workers' internal topics start with run_id)."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})
    mine = [t for t in admin.list_topics(timeout=10).topics if t.startswith(run_id)]
    if mine:
        for fut in admin.delete_topics(mine, operation_timeout=30).values():
            try:
                fut.result()
            except Exception:  # best effort: a leftover topic is not a failure
                continue
    return len(mine)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def json_dump(path: Path, obj: Any) -> None:
    path.write_bytes(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
