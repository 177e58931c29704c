"""Benchmark of the poller path: fingerprint + dedup + produce, the seen-set rebuild, and dedup memory.

Run:  .venv/bin/python tests/bench/bench_sources.py [--records 100000] [--bootstrap HOST:PORT] [--no-kafka]

Reports records/s for
  build        fingerprint (raw_id with occurrences) + seen-set lookup + envelope, no Kafka
  produce      a full poll run: build + produce with the idempotent producer (acks=all) + delivery reports
  re-poll      the same window again: everything is a dedup hit, nothing produced
  rebuild      a restart's seen-set rebuild, scanning the output topic
and the bytes of dedup state per record (tracemalloc) for the packed DigestSet and for a plain set[bytes].
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
import tracemalloc
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson

from pipeline.exmail._parse import MAIL_ROWS, decode_payload
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, bootstrap_from_env, ensure_topics
from pipeline.kafka.reader import KafkaReader, OnRecord, ScanResult
from pipeline.kafka.state import StateTopic
from pipeline.sources._clock import FixedClock
from pipeline.sources._emit import Emitter
from pipeline.sources._runtime import CorpRuntime, Runtime
from pipeline.sources._window import CorpCalendar
from pipeline.sources.config import CorpConfig, PollSettings
from pipeline.sources.cursor import CursorStore
from pipeline.sources.dedup import SeenSet
from pipeline.sources.logs import LogPoller

TZ = timezone(timedelta(hours=8))
DAY = date(2026, 3, 10)


def records(n: int) -> list[dict[str, Any]]:
    start = int(datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ).timestamp())
    return [{"mailtype": 1 + i % 2, "sender": f"user{i % 997}@acme.com", "receiver": f"peer{i % 7919}@x.com",
             "subject": f"Quarterly report {i % 211}", "time": start + (i * 86399) // n, "status": 3 if i % 2 else 13}
            for i in range(n)]


class BenchClient:
    def __init__(self, recs: list[dict[str, Any]]) -> None:
        self.recs = recs

    async def log_mail_rows(self, a: date, b: date, *, mailtype: Any = 0) -> list[dict[str, Any]]:
        return self.recs


class ParsingClient:
    """log_mail_rows through the real client's parsing: the HTTP body bytes -> errcode check -> the page's
    validated records, as ExmailClient does after the request (no network: the body is encoded once)."""

    def __init__(self, recs: list[dict[str, Any]]) -> None:
        self.body = orjson.dumps({"errcode": 0, "errmsg": "ok", "list": recs})

    async def log_mail_rows(self, a: date, b: date, *, mailtype: Any = 0) -> list[dict[str, Any]]:
        return MAIL_ROWS(decode_payload(self.body, "log/mail"), "log/mail")


class NullReader:
    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {}

    async def scan(self, topic: str, on_record: OnRecord, start: Any = None) -> ScanResult:
        return ScanResult(0, {}, {})


class NullProducer:
    async def send(self, topic: str, value: Any, key: Any = None, headers: Any = None) -> None:
        value.encode()

    async def send_many(self, recs: Any) -> list[Any]:
        return []

    async def send_values(self, topic: str, keys: Any, values: Any) -> list[Any]:
        return [None] * len(values)


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} rec/s  ({seconds:.2f} s for {n:,})"


def bytes_per_record(n: int) -> tuple[float, float]:
    digests = [os.urandom(16) for _ in range(n)]
    results = []
    for kind in ("packed", "set"):
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        if kind == "packed":
            seen = SeenSet()
            for d in digests:
                seen.add(DAY, d)
            seen.compact()
            holder: Any = seen
        else:
            holder = set(bytes(bytearray(d)) for d in digests)
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        results.append(used / n)
        del holder
    return results[0], results[1]


def runtime(emitter: Emitter, reader: Any, names: TopicNames, producer: Any) -> Runtime:
    poll = PollSettings(backfill_days=0, lag_seconds=6 * 3600)
    clock = FixedClock(datetime(DAY.year, DAY.month, DAY.day, 12, tzinfo=TZ).timestamp())
    return Runtime(emitter=emitter, cursors=CursorStore(StateTopic(producer, reader, names.state("cursors"))),
                   state=StateTopic(producer, reader, names.state("directory")), clock=clock, poll=poll,
                   reader=reader)


async def bench(n: int, bootstrap: str | None) -> None:
    recs = records(n)
    corp_cfg = CorpConfig(name="bench", corp_id="wwbench0000000000")
    print(f"records per window: {n:,}  (one date, mail_log)")

    names = TopicNames("bench.")
    null_rt = runtime(Emitter(NullProducer(), names), NullReader(), names, NullProducer())  # type: ignore[arg-type]
    corp = CorpRuntime(config=corp_cfg, client=BenchClient(recs), calendar=CorpCalendar(480))  # type: ignore[arg-type]
    poller = LogPoller(null_rt, corp, "mail_log")
    t0 = time.perf_counter()
    items = poller.build(DAY, DAY, [(None, recs)])
    t1 = time.perf_counter()
    print(f"build (fingerprint + dedup lookup + envelope): {rate(len(items), t1 - t0)}")

    if bootstrap is None:
        print("produce / re-poll / rebuild: skipped (--no-kafka)")
    else:
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        ensure_topics(bootstrap, prefix=prefix, partitions=6)
        names = TopicNames(prefix)
        producer = EventProducer(KafkaSettings(bootstrap=bootstrap, topic_prefix=prefix))
        reader = KafkaReader(bootstrap)
        try:
            rt = runtime(Emitter(producer, names), reader, names, producer)
            await rt.cursors.load()
            poller = LogPoller(rt, corp, "mail_log")
            await poller.prepare()
            t0 = time.perf_counter()
            produced = await poller.run_window()
            t1 = time.perf_counter()
            print(f"produce (full run, acks=all, delivery reports): {rate(produced, t1 - t0)}")
            t0 = time.perf_counter()
            again = await poller.run_window()
            t1 = time.perf_counter()
            assert again == 0
            print(f"re-poll (all dedup hits):                      {rate(n, t1 - t0)}")
            restarted = LogPoller(rt, corp, "mail_log")
            t0 = time.perf_counter()
            await restarted.prepare()
            t1 = time.perf_counter()
            assert len(restarted.seen) == n
            print(f"rebuild (scan output topic after restart):     {rate(n, t1 - t0)}")
        finally:
            producer.close()

    packed, plain = bytes_per_record(min(n, 200_000))
    print(f"dedup state: {packed:.1f} bytes/record (packed DigestSet), {plain:.1f} bytes/record (set[bytes])")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--bootstrap", default=None, help="Kafka bootstrap (default: EXMAIL_KAFKA_BOOTSTRAP/.state)")
    parser.add_argument("--no-kafka", action="store_true", help="only the in-memory stages")
    args = parser.parse_args()
    asyncio.run(bench(args.records, None if args.no_kafka else (args.bootstrap or bootstrap_from_env())))


if __name__ == "__main__":
    main()
