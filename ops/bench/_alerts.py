"""Alerting phases: the receiver's own capacity, push-to-delivery latency through every Kafka hop, and a burst
of alerts in distinct groups through our dispatch + delivery beside Debian's prometheus-alertmanager."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml
from _procs import PYTHON, BenchError, Proc, Procs, cpu_seconds, free_port, listener_pid, machine_busy_seconds
from _records import alertmanager_alerts, bench_id, burst_alerts
from _report import Row, percentile, summarize
from _throughput import Context, PhaseResult
from confluent_kafka import Consumer, TopicPartition

from pipeline.exmail.crypto import MailEvent, WXBizMsgCrypt
from pipeline.kafka import EventProducer, KafkaSettings

HERE = Path(__file__).resolve().parent
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
WEBHOOK_SECRET_ENV = "EXMAIL_BENCH_WEBHOOK_SECRET"
WARMUP_ID = 900_000
BENCH_ID_IN_VALUE = re.compile(rb"bnch(\d{6})x")


class Receiver:
    """Client of the receiver process (ops/bench/_receiver.py)."""

    def __init__(self, proc: Proc, port: int) -> None:
        self.proc = proc
        self.base = f"http://127.0.0.1:{port}"
        self._http = httpx.AsyncClient(base_url=self.base, timeout=30.0, trust_env=False)

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}"

    async def reset(self) -> None:
        (await self._http.post("/_reset")).raise_for_status()

    async def count(self) -> int:
        response = await self._http.get("/_count")
        return int(response.json()["ids"])

    async def first_arrivals(self) -> dict[int, float]:
        body = orjson.loads((await self._http.get("/_dump")).content)
        return {int(k): float(v) for k, v in body["first"].items()}

    async def aclose(self) -> None:
        await self._http.aclose()


def start_receiver(procs: Procs) -> Receiver:
    proc = procs.start("receiver", [PYTHON, str(HERE / "_receiver.py")])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        match = re.search(r"PORT (\d+)", proc.tail())
        if match:
            return Receiver(proc, int(match.group(1)))
        proc.check()
        time.sleep(0.05)
    raise BenchError("the receiver did not start")


async def until(predicate: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.05,
                watch: tuple[Proc, ...] = ()) -> float:
    """Await `predicate()` every `interval`; returns the time.time() it became true."""
    deadline = time.monotonic() + within
    while True:
        if await predicate():
            return time.time()
        for proc in watch:
            proc.check()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(interval)


# ------------------------------------------------------------------------------------------ capacity

def receiver_capacity(receiver: Receiver, requests: int, loaders: int = 3,
                      concurrency: int = 8) -> PhaseResult:
    """Plain POSTs from `loaders` httpx processes at once: requests/s from the first send to the last answer,
    and the receiver's own CPU per request (what it could take on one free core)."""
    args = [PYTHON, str(HERE / "_httpload.py"), receiver.url("load"), "--requests", str(requests // loaders),
            "--concurrency", str(concurrency)]
    cpu_before = receiver.proc.cpu()
    running = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(loaders)]
    results = []
    for proc in running:
        out, err = proc.communicate(timeout=300)
        if proc.returncode != 0:
            raise BenchError(f"load generator failed: {err.decode(errors='replace')[-2000:]}")
        results.append(orjson.loads(out.splitlines()[-1]))
    cpu = receiver.proc.cpu() - cpu_before
    ok = sum(int(r["ok"]) for r in results)
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    if ok != sum(int(r["requests"]) for r in results):
        raise BenchError(f"receiver answered {ok} of {requests} load requests with 200")
    rate = ok / seconds
    cpu_us = cpu / ok * 1e6 if ok else None
    one_core = 1e6 / cpu_us if cpu_us else None
    rows = [Row("receiver capacity: httpx load", rate, "req/s", notes=(
                f"{ok:,} POSTs of ~1.2 kB from {loaders} httpx processes x {concurrency} connections; "
                "bound by the httpx clients sharing the 2 cores, so a lower bound")),
            Row("receiver capacity: CPU-bound", one_core, "req/s", notes=(
                f"1 core / receiver CPU per request ({cpu_us or 0:.0f} us); each burst row gives the "
                "receiver's CPU use during the burst"))]
    return rows, {"requests": ok, "seconds": seconds, "req_per_s": rate,
                  "receiver_cpu_us_per_request": cpu_us, "one_core_req_per_s": one_core}


# ------------------------------------------------------------------------------------------ push latency

def _ingest_config(creds_path: Path, bootstrap: str, prefix: str, port: int,
                   out: Path) -> tuple[str, dict[str, Any]]:
    """The ingest config `--sim-credentials` would build, with the pollers switched off (streams: []) so
    only the callback endpoint runs; returns the callback URL and the credentials."""
    from pipeline.sources.config import config_from_sim_credentials

    cfg = config_from_sim_credentials(creds_path, kafka={"bootstrap": bootstrap, "topic_prefix": prefix},
                                      http={"host": "127.0.0.1", "port": port})
    data = cfg.model_dump(mode="json", exclude_none=True)
    data["corps"][0]["streams"] = []
    out.write_text(yaml.safe_dump(data))
    return f"http://127.0.0.1:{port}{cfg.corps[0].callback_path}", orjson.loads(creds_path.read_bytes())


def _latency_worker_config(creds: dict[str, Any], hook_url: str, out: Path, group_interval: str) -> None:
    out.write_text(yaml.safe_dump({
        "worker": {"http_port": 0},
        "alerting": {
            "rules": {"params": {"cs_mailboxes": [creds["service_mailbox"]]}},
            "corp_domains": {creds["corp_id"]: [creds["domain"]]},
            "routing": {
                "route": {"receiver": "bench-hook", "group_by": ["alertname", "user", "sender"],
                          "group_wait": "0s", "group_interval": group_interval, "repeat_interval": "4h"},
                "receivers": [_webhook_receiver(hook_url)],
            },
        },
    }))


def _broker_pid(bootstrap: str) -> int | None:
    """The broker process when it runs on this machine (its CPU is part of our path's cost, not of
    Alertmanager's); None for a remote or unreadable one."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]") or not port.isdigit():
        return None
    return listener_pid(int(port))


def _webhook_receiver(url: str) -> dict[str, Any]:
    return {"name": "bench-hook", "kind": "webhook", "url": url, "secret": f"env:{WEBHOOK_SECRET_ENV}",
            "per_minute": 6_000_000, "burst": 100_000, "language": "en", "send_resolved": False,
            # as many connections as a burst can use: Alertmanager sends every group's notification at once
            "http": {"max_connections": 50}}


def hop_times(bootstrap: str, topics: dict[str, str]) -> dict[str, dict[int, float]]:
    """Per hop: bench id -> the first record's CreateTime (s) on that topic (the producer's send time)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-hops-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    out: dict[str, dict[int, float]] = {}
    try:
        for hop, topic in topics.items():
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            parts = []
            end = 0
            for p in meta.partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                end += high - low
                parts.append(TopicPartition(topic, p, low))
            consumer.assign(parts)
            seen: dict[int, float] = {}
            read = 0
            deadline = time.monotonic() + 30
            while read < end and time.monotonic() < deadline:
                for msg in consumer.consume(1000, timeout=0.5):
                    if msg.error():
                        continue
                    read += 1
                    ts = msg.timestamp()[1] / 1000
                    for match in set(BENCH_ID_IN_VALUE.findall(msg.value() or b"")):
                        seen.setdefault(int(match), ts)
            out[hop] = seen
            consumer.unassign()
    finally:
        consumer.close()
    return out


async def push_latency(ctx: Context, receiver: Receiver, pushes: int, spacing: float,
                       group_interval: str = "1s") -> PhaseResult:
    """Encrypted new-mail callbacks POSTed to `pipeline ingest` one at a time, each from a distinct external
    sender to the simulator's customer-service mailbox, through raw -> normalize -> rules -> dispatch ->
    delivery (webhook) to the receiver; latency = receiver arrival - POST time."""
    names = ctx.topics("latency")
    creds_path = ctx.tmp / "sim-credentials.json"
    secret = uuid.uuid4().hex
    with Procs(ctx.tmp, ctx.tmp) as procs:
        sim = procs.pipeline("sim", "sim", "--port", "0", "--no-traffic", "--users", "20",
                             "--credentials-out", str(creds_path), "--log-level", "WARNING")
        deadline = time.monotonic() + 60
        while not (creds_path.exists() and creds_path.stat().st_size > 0):
            sim.check()
            if time.monotonic() > deadline:
                raise BenchError("the simulator did not write its credentials")
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        port = free_port()
        ingest_cfg = ctx.tmp / "ingest.yaml"
        callback_url, creds = _ingest_config(creds_path, ctx.bootstrap, names.prefix, port, ingest_cfg)
        worker_cfg = ctx.tmp / "worker-latency.yaml"
        launched = time.time()
        _latency_worker_config(creds, receiver.url("hook/latency"), worker_cfg, group_interval)
        worker = procs.worker("worker-latency", worker_cfg, ctx.bootstrap, names.prefix,
                              ["normalize", "alerting", "delivery"], env={WEBHOOK_SECRET_ENV: secret})
        ingest = procs.pipeline("ingest", "ingest", "--config", str(ingest_cfg),
                                "--topic-prefix", names.prefix, "--port", str(port))
        crypt = WXBizMsgCrypt(creds["callback_token"], creds["callback_aes_key"], creds["corp_id"])
        mailbox = creds["service_mailbox"]
        watch = (sim, ingest, worker)
        async with httpx.AsyncClient(timeout=30.0, trust_env=False) as http:

            async def push(n: int) -> tuple[float, float, int]:
                event = MailEvent(corp_id=creds["corp_id"], mail_id=f"bench-{ctx.run_id}-{n}",
                                  to_user_id=mailbox,
                                  from_user=f'"Customer {n}"<{bench_id(n)}@customer-bench.cn>',
                                  title=f"Order {n} question", time=int(time.time()), new_count=n + 1)
                message = crypt.encrypt(event.to_xml())
                body = crypt.push_body(message).encode()
                params = {"msg_signature": message.signature, "timestamp": message.timestamp,
                          "nonce": message.nonce}
                sent = time.time()
                response = await http.post(callback_url, params=params, content=body,
                                            headers={"Content-Type": "text/xml; charset=utf-8"})
                return sent, time.time(), response.status_code

            async def ingest_up() -> bool:
                try:
                    await http.get(callback_url)
                    return True
                except httpx.TransportError:
                    return False

            await until(ingest_up, 60, "ingest's HTTP port", watch=watch)
            await receiver.reset()
            warm = 0

            async def warmed() -> bool:
                nonlocal warm
                if await receiver.count() > 0:
                    return True
                if warm < 200:
                    await push(WARMUP_ID + warm)
                    warm += 1
                return False

            ready_at = await until(warmed, 180, "the first notification (worker start-up)", interval=1.0,
                                   watch=watch)
            await asyncio.sleep(2.0)
            await receiver.reset()
            worker_cpu = worker.cpu()
            started = time.time()
            tasks = []
            for n in range(pushes):
                delay = started + n * spacing - time.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(push(n)))
            sends = await asyncio.gather(*tasks)
            bad = [s for s in sends if s[2] != 200]
            if bad:
                raise BenchError(f"{len(bad)} pushes were not accepted (first status {bad[0][2]})")

            async def all_arrived() -> bool:
                return await receiver.count() >= pushes

            try:
                await until(all_arrived, 30 + pushes * 0.05, f"{pushes} notifications", interval=0.2,
                            watch=watch)
            except BenchError:
                pass
            ended = time.time()
            worker_cpu = worker.cpu() - worker_cpu
            arrivals = await receiver.first_arrivals()
        worker_rss, ingest_rss = worker.sample_rss(), ingest.sample_rss()
    sent_at = {n: s[0] for n, s in enumerate(sends)}
    latencies = [(arrivals[n] - sent_at[n]) * 1000 for n in range(pushes) if n in arrivals]
    quarter = max(1, pushes // 4)
    by_quarter = [summarize([(arrivals[n] - sent_at[n]) * 1000 for n in range(q, min(q + quarter, pushes))
                             if n in arrivals]) for q in range(0, pushes, quarter)]
    ack_ms = [(s[1] - s[0]) * 1000 for s in sends]
    hops = hop_times(ctx.bootstrap, {"raw": names.raw("new_mail"), "event": names.events,
                                     "alert": names.alerts, "notification": names.notifications})
    hop_ms = _hop_breakdown(sent_at, hops, arrivals)
    lost = pushes - len(latencies)
    stats = summarize(latencies)
    p50s = ", ".join(f"{k} {v['p50']:.0f}" for k, v in hop_ms.items() if v["p50"] is not None)
    p99s = ", ".join(f"{k} {v['p99']:.0f}" for k, v in hop_ms.items() if v["p99"] is not None)
    note = f"{pushes:,} pushes every {spacing * 1000:.0f} ms, each its own group; hop p50 ms: {p50s}"
    if lost:
        note += f"; {lost} NOT delivered in time"
    rows = [
        Row("push->delivery latency p50", stats["p50"], "ms", 100.0, "aim", notes=note),
        Row("push->delivery latency p99", stats["p99"], "ms", 250.0, "limit",
            notes=f"POST to ingest -> webhook arrival, Kafka at every hop; hop p99 ms: {p99s}"),
        Row("push->delivery latency max", stats["max"], "ms", notes="p99 per quarter of the run (ms): "
            + ", ".join(f"{q['p99'] or 0:.0f}" for q in by_quarter)),
        Row("callback ack (ingest answer) p99", percentile(ack_ms, 99), "ms",
            notes=f"p50 {percentile(ack_ms, 50) or 0:.1f} ms; answered after the broker's ack"),
        Row("latency worker peak RSS", worker_rss, "MiB",
            notes=f"normalize+alerting+delivery; ingest process {ingest_rss or 0:.0f} MiB; worker CPU "
                  f"{worker_cpu / (ended - started):.0%} of a core during the pushes"),
    ]
    return rows, {"pushes": pushes, "spacing_s": spacing, "delivered": len(latencies), "latency_ms": stats,
                  "ack_ms": summarize(ack_ms), "hop_ms": hop_ms, "latency_ms_by_quarter": by_quarter,
                  "startup_s": ready_at - launched,
                  "worker_peak_rss_mib": worker_rss, "ingest_peak_rss_mib": ingest_rss}


def _hop_breakdown(sent: dict[int, float], hops: dict[str, dict[int, float]],
                   arrivals: dict[int, float]) -> dict[str, dict[str, float | None]]:
    """p50 and p99 ms of each hop: POST -> raw record, raw -> event, event -> alert, alert -> notification,
    notification -> receiver."""
    chain = [("post->raw", sent, hops.get("raw", {})),
             ("raw->event", hops.get("raw", {}), hops.get("event", {})),
             ("event->alert", hops.get("event", {}), hops.get("alert", {})),
             ("alert->notification", hops.get("alert", {}), hops.get("notification", {})),
             ("notification->receiver", hops.get("notification", {}), arrivals)]
    out: dict[str, dict[str, float | None]] = {}
    for name, a, b in chain:
        deltas = [(b[k] - a[k]) * 1000 for k in sent if k in a and k in b]
        out[name] = {"p50": percentile(deltas, 50), "p99": percentile(deltas, 99)}
    return out


# ------------------------------------------------------------------------------------------ burst

def _burst_times(n: int, times: dict[int, float]) -> list[float]:
    """The times of the burst's ids 0..n-1 that have one (the warm-up's and others' ids left out)."""
    return [times[i] for i in range(n) if i in times]


def _burst_note(n: int, start: float, arrivals: dict[int, float], receiver_cpu: float
                ) -> tuple[float | None, str, dict[str, Any]]:
    """Rate from the first send to the last arrival; the note gives when the first notification arrived, arrival
    percentiles since the first send and the receiver's CPU use (share of one core) over the burst."""
    got = _burst_times(n, arrivals)
    if not got:
        return None, "nothing arrived", {"delivered": 0}
    last = max(got)
    span = last - start
    rate = len(got) / span if span > 0 else None
    since = [(t - start) * 1000 for t in got]
    busy = receiver_cpu / span if span > 0 else None
    first, p1 = min(since), percentile(since, 1)
    note = (f"{len(got):,}/{n:,} delivered; arrivals first {first:,.0f} ms, p1 {p1 or 0:,.0f}, "
            f"p50 {percentile(since, 50) or 0:,.0f}, p99 {percentile(since, 99) or 0:,.0f} ms after the first send; "
            f"receiver CPU {busy or 0:.0%} of a core")
    return rate, note, {"delivered": len(got), "arrival_ms": summarize(since), "first_arrival_ms": first,
                        "arrival_p1_ms": p1, "receiver_core_share": busy}


def _phases_note(n: int, emitted: dict[int, float], arrivals: dict[int, float]) -> str:
    """How delivery kept up: the notifications that arrived while dispatch was still emitting, and the rate of
    the rest after its last emission (delivery alone on the cores then). Empty without both sides."""
    sent, got = _burst_times(n, emitted), _burst_times(n, arrivals)
    if not sent or not got:
        return ""
    last = max(sent)
    during = sum(1 for t in got if t <= last)
    after, tail = len(got) - during, max(0.0, max(got) - last)  # tail > 0 exactly when some arrived after
    rate = f" ({after / tail:,.0f}/s)" if after else ""
    return (f"{during:,} arrived while dispatch was emitting, the other {after:,} in the {tail * 1000:,.0f} "
            f"ms after its last{rate}; ")


def _machine_note(machine: float, n: int, span: float) -> str:
    """The whole machine's CPU over a burst: per notification, and as a share of every core's time."""
    cores = os.cpu_count() or 1
    return (f"the machine spent {machine / n * 1e6:.0f} us of CPU per notification "
            f"({machine / (span * cores) if span > 0 else 0:.0%} of its {cores} cores busy)")


async def burst_ours(ctx: Context, receiver: Receiver, n: int, within: float,
                     alertmanager: dict[str, Any] | None, group_interval: str = "1s",
                     processes: int = 1) -> PhaseResult:
    """`n` exmail.alert/1 envelopes in distinct groups produced straight to exmail.alerts (keyed by the
    routing's partition key, as the rules agent keys them); `pipeline worker --agent dispatch` and
    `--agent delivery` run as two processes to the webhook receiver; from the first produce to the n-th
    arrival. The note adds when dispatch emitted the notifications (their CreateTime on
    exmail.notifications) and each process's CPU use, to tell the dispatch and delivery stages apart.
    `processes` > 1: that many dispatch and that many delivery processes in the same consumer groups, with
    `alerting.spread_notifications` (the webhook's notifications keyed by group, so delivery spreads too)."""
    from pipeline.transforms.routing import parse_routing_config

    phase = f"burst{n}-{group_interval}" + (f"-x{processes}" if processes > 1 else "")
    names = ctx.topics(phase)
    secret = uuid.uuid4().hex
    cfg = ctx.tmp / f"worker-{phase}.yaml"
    routing = {"route": {"receiver": "bench-hook", "group_by": ["group"], "group_wait": "0s",
                         "group_interval": group_interval, "repeat_interval": "4h"},
               "receivers": [_webhook_receiver(receiver.url(f"hook/{phase}"))]}
    alerting: dict[str, Any] = {"routing": routing}
    if processes > 1:
        alerting["spread_notifications"] = True
    cfg.write_text(yaml.safe_dump({"worker": {"http_port": 0}, "alerting": alerting}))
    key = parse_routing_config(routing).partition_key
    producer = EventProducer(KafkaSettings(bootstrap=ctx.bootstrap))
    try:
        with Procs(ctx.tmp, ctx.tmp) as procs:
            env = {WEBHOOK_SECRET_ENV: secret}
            dispatchers = tuple(procs.worker(f"dispatch-{phase}" + (f"-{i}" if i else ""), cfg, ctx.bootstrap,
                                             names.prefix, ["dispatch"], env=env) for i in range(processes))
            deliverers = tuple(procs.worker(f"delivery-{phase}" + (f"-{i}" if i else ""), cfg, ctx.bootstrap,
                                            names.prefix, ["delivery"], env=env) for i in range(processes))
            workers = (*dispatchers, *deliverers)
            await receiver.reset()
            [warm] = burst_alerts(1, WARMUP_ID)
            await producer.send(names.alerts, warm.to_envelope(time.time()), key(warm.labels))

            async def arrived(k: int) -> bool:
                return await receiver.count() >= k

            await until(lambda: arrived(1), 180, "the warm-up notification (worker start-up)", interval=0.2,
                        watch=workers)
            await asyncio.sleep(2.0)
            await receiver.reset()
            alerts = burst_alerts(n, 0)
            now = time.time()
            records = [(names.alerts, key(a.labels), a.to_envelope(now).encode()) for a in alerts]
            if processes > 1:  # every member owns its partitions before the burst
                await asyncio.sleep(5.0)
            profilers = _profile(ctx, procs, phase, workers) if processes == 1 else []
            broker = _broker_pid(ctx.bootstrap)
            broker_cpu = cpu_seconds(broker) if broker is not None else None
            receiver_cpu, cpu = receiver.proc.cpu(), [w.cpu() for w in workers]
            machine = machine_busy_seconds()
            started = time.time()
            await producer.send_many(records)
            produced = time.time()
            try:
                await until(lambda: arrived(n), within, f"{n} notifications", interval=0.1, watch=workers)
            except BenchError:
                pass
            ended = time.time()
            machine = machine_busy_seconds() - machine
            receiver_cpu = receiver.proc.cpu() - receiver_cpu
            spent = [w.cpu() - c for w, c in zip(workers, cpu, strict=True)]
            broker_after = cpu_seconds(broker) if broker is not None else None
            broker_spent = broker_after - broker_cpu if broker_after is not None and broker_cpu is not None else None
            cpu = [sum(spent[:processes]), sum(spent[processes:])]
            for profiler in profilers:
                profiler.popen.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                profiler.popen.wait(30)
            arrivals = await receiver.first_arrivals()
            rss = [w.sample_rss() for w in workers]
    finally:
        producer.close()
    emitted = hop_times(ctx.bootstrap, {"notification": names.notifications})["notification"]
    emitted_ms = [(t - started) * 1000 for t in _burst_times(n, emitted)]
    rate, note, detail = _burst_note(n, started, arrivals, receiver_cpu)
    span = ended - started
    note += (f"; dispatch emitted {len(emitted_ms):,} notifications by p50 "
             f"{percentile(emitted_ms, 50) or 0:,.0f} / p99 {percentile(emitted_ms, 99) or 0:,.0f} ms; "
             + _phases_note(n, emitted, arrivals) +
             f"CPU share of a core: dispatch {cpu[0] / span:.0%}, delivery {cpu[1] / span:.0%}; "
             f"CPU per notification: dispatch {cpu[0] / n * 1e6:.0f} us, delivery {cpu[1] / n * 1e6:.0f} us")
    if broker_spent is not None:  # Alertmanager has no broker to share the cores with; our path has
        note += (f"; the Kafka broker used {broker_spent / span:.0%} of a core "
                 f"({broker_spent / n * 1e6:.0f} us per notification)")
    note += "; " + _machine_note(machine, n, span)
    title = f"burst {n:,}: our dispatch+delivery"
    if group_interval != "1s":
        title += f", group_interval {group_interval}"
    if processes > 1:
        title += f", {processes}+{processes} processes"
    am_rate = alertmanager.get("notifications_per_s") if alertmanager else None
    am_p99 = (alertmanager.get("arrival_ms") or {}).get("p99") if alertmanager else None
    am_cpu_us = alertmanager["cpu_s"] / n * 1e6 if alertmanager and alertmanager.get("cpu_s") else None
    am_machine_us = (alertmanager["machine_cpu_s"] / n * 1e6
                     if alertmanager and alertmanager.get("machine_cpu_s") else None)
    ours_p99 = (detail.get("arrival_ms") or {}).get("p99")
    rows = [Row(title, rate, "notif/s", am_rate, "Alertmanager", notes=note),
            Row(f"{title}: p99 arrival", ours_p99, "ms", am_p99, "Alertmanager p99",
                notes="after the first send; target: below Alertmanager's"),
            Row(f"{title}: CPU per notification", (cpu[0] + cpu[1]) / n * 1e6, "us", am_cpu_us,
                "Alertmanager", notes="dispatch + delivery processes, user+system, first send to n-th arrival "
                                      "(idle timers and polling included); the load-independent comparison"),
            Row(f"{title}: machine CPU per notification", machine / n * 1e6, "us", am_machine_us, "Alertmanager",
                notes="every process on the machine, user+system+irq, first send to n-th arrival: ours with the "
                      "Kafka broker, the receiver and the bench's producer; on two cores the burst's rate is two "
                      "cores' time over this"),
            Row(f"{title}: peak RSS", max((r or 0.0) for r in rss), "MiB",
                notes=f"dispatch {max(r or 0 for r in rss[:processes]):.0f} MiB, delivery "
                      f"{max(r or 0 for r in rss[processes:]):.0f} MiB (largest process of each)")]
    return rows, {"alerts": n, "group_interval": group_interval, "processes": processes, "notifications_per_s": rate,
                  "peak_rss_mib": rss, "produce_ms": (produced - started) * 1000,
                  "dispatch_emitted_ms": summarize(emitted_ms), "dispatch_cpu_s": cpu[0],
                  "delivery_cpu_s": cpu[1], "broker_cpu_s": broker_spent, "machine_cpu_s": machine, **detail}


def burst_pairs_summary(n: int, pairs: Sequence[tuple[dict[str, Any] | None, dict[str, Any] | None]]
                        ) -> tuple[int | None, Row | None]:
    """Alternating (Alertmanager, ours) bursts of one size: the index of the pair whose rate ratio is the median
    (the lower one for an even count), whose rows stand in the table; and, for more than one pair, a row that
    counts the pairs in which ours met the target (rate >= Alertmanager's and p99 arrival below its p99). A
    pair with a failed side counts as run and not met. One pair's verdict is a coin flip on a 2-core machine
    where both sides keep both cores busy (RESULTS.md); the count and the medians are the result."""
    measured: list[tuple[float, float, float | None, int]] = []
    for i, (am, ours) in enumerate(pairs):
        if not am or not ours:
            continue
        am_rate, our_rate = am.get("notifications_per_s"), ours.get("notifications_per_s")
        am_p99, our_p99 = (am.get("arrival_ms") or {}).get("p99"), (ours.get("arrival_ms") or {}).get("p99")
        if not (am_rate and our_rate and am_p99 and our_p99):
            continue
        am_cpu, our_cpu = am.get("machine_cpu_s"), ours.get("machine_cpu_s")
        measured.append((our_rate / am_rate, our_p99 / am_p99, our_cpu / am_cpu if am_cpu and our_cpu else None, i))
    if not measured:
        return None, None
    by_rate = sorted(measured)
    chosen = by_rate[(len(by_rate) - 1) // 2][3]
    if len(pairs) < 2:
        return chosen, None
    rates, p99s = [m[0] for m in measured], [m[1] for m in measured]
    cpu = [m[2] for m in measured if m[2] is not None]
    met = sum(1 for rate, p99 in zip(rates, p99s, strict=True) if rate >= 1 and p99 < 1)

    def listed(label: str, ratios: list[float]) -> str:
        return f"{label} per pair {', '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f}x)"

    note = f"{listed('rate ratio', rates)}; {listed('p99 ratio', p99s)}"
    if cpu:
        note += "; " + listed("machine CPU per notification, ours over Alertmanager's,", cpu)
    if len(measured) < len(pairs):
        note += f"; {len(pairs) - len(measured)} pair(s) without a result (see the log)"
    note += f"; the other burst {n:,} rows are pair {chosen + 1}'s, the median rate ratio"
    return chosen, Row(f"burst {n:,}: pairs in which ours met the target", met, "pairs", len(pairs), "pairs run",
                       notes=note)


def _profile(ctx: Context, procs: Procs, phase: str, workers: tuple[Proc, ...]) -> list[Proc]:
    """With --profile: py-spy (PyPI) sampling each worker, collapsed stacks to <dir>/<worker>.txt."""
    if ctx.profile is None:
        return []
    ctx.profile.mkdir(parents=True, exist_ok=True)
    spy = str(Path(PYTHON).with_name("py-spy"))
    if not Path(spy).exists():
        raise BenchError(f"{spy} is missing (bash ops/setup.sh installs the dev tools)")
    return [procs.start(f"py-spy-{w.name}", [spy, "record", "-p", str(w.pid), "-r", "250", "-f", "raw",
                                              "-o", str(ctx.profile / f"{w.name}.txt")]) for w in workers]


def alertmanager_version() -> str:
    """First line of `prometheus-alertmanager --version`; BenchError when the binary is missing."""
    if not Path(ALERTMANAGER).exists():
        raise BenchError(f"{ALERTMANAGER} is missing (apt-get install -y prometheus-alertmanager)")
    done = subprocess.run([ALERTMANAGER, "--version"], capture_output=True, text=True, check=False)
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0] if lines else ""


async def burst_alertmanager(ctx: Context, receiver: Receiver, n: int, batch: int,
                             within: float) -> PhaseResult:
    """The same alerts posted to prometheus-alertmanager's /api/v2/alerts in batches; one route with
    group_wait 0s / group_interval 1s grouped by `group`, a webhook receiver; to the n-th notification."""
    version_line = alertmanager_version()
    port = free_port()
    cfg = ctx.tmp / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump({
        "route": {"receiver": "hook", "group_by": ["group"], "group_wait": "0s", "group_interval": "1s",
                  "repeat_interval": "4h"},
        "receivers": [{"name": "hook", "webhook_configs": [{"url": receiver.url("hook/alertmanager"),
                                                            "send_resolved": False}]}]}))
    storage = ctx.tmp / f"alertmanager-data-{n}"  # a fresh nflog: the warm-up alert repeats across runs
    storage.mkdir(exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    with Procs(ctx.tmp, ctx.tmp) as procs:
        am = procs.start("alertmanager", [
            ALERTMANAGER, f"--config.file={cfg}", f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"])
        async with httpx.AsyncClient(base_url=base, timeout=60.0, trust_env=False) as http:

            async def ready() -> bool:
                try:
                    return (await http.get("/-/ready")).status_code == 200
                except httpx.TransportError:
                    return False

            await until(ready, 60, "alertmanager /-/ready", watch=(am,))
            await receiver.reset()
            warm = alertmanager_alerts(burst_alerts(1, WARMUP_ID))
            (await http.post("/api/v2/alerts", json=warm)).raise_for_status()

            async def arrived(k: int) -> bool:
                return await receiver.count() >= k

            await until(lambda: arrived(1), 60, "alertmanager's warm-up notification", watch=(am,))
            await asyncio.sleep(1.0)
            await receiver.reset()
            bodies = [orjson.dumps(alertmanager_alerts(burst_alerts(min(batch, n - i), i)))
                      for i in range(0, n, batch)]
            cpu_before, am_cpu = receiver.proc.cpu(), am.cpu()
            machine = machine_busy_seconds()
            started = time.time()
            for body in bodies:
                response = await http.post("/api/v2/alerts", content=body,
                                           headers={"Content-Type": "application/json"})
                response.raise_for_status()
            posted = time.time()
            try:
                await until(lambda: arrived(n), within, f"{n} alertmanager notifications", interval=0.1,
                            watch=(am,))
            except BenchError:
                pass
            machine = machine_busy_seconds() - machine
            span = time.time() - started
            receiver_cpu = receiver.proc.cpu() - cpu_before
            am_cpu = am.cpu() - am_cpu
            arrivals = await receiver.first_arrivals()
        rss = am.sample_rss()
    rate, note, detail = _burst_note(n, started, arrivals, receiver_cpu)
    rows = [Row(f"burst {n:,}: Alertmanager (routing peer)", rate, "notif/s", notes=(
                f"{version_line.split('(')[0].strip()}; batches of {batch}; " + note
                + f"; posting took {(posted - started) * 1000:.0f} ms; " + _machine_note(machine, n, span))),
            Row(f"burst {n:,}: Alertmanager p99 arrival", (detail.get("arrival_ms") or {}).get("p99"), "ms"),
            Row(f"burst {n:,}: Alertmanager CPU per notification", am_cpu / n * 1e6, "us",
                notes="user+system CPU of the alertmanager process from the first POST to the n-th arrival"),
            Row(f"burst {n:,}: Alertmanager machine CPU per notification", machine / n * 1e6, "us",
                notes="every process on the machine, user+system+irq, first POST to n-th arrival: Alertmanager, "
                      "the receiver and the bench posting the alerts"),
            Row(f"burst {n:,}: Alertmanager peak RSS", rss, "MiB")]
    return rows, {"alerts": n, "batch": batch, "notifications_per_s": rate, "peak_rss_mib": rss,
                  "version": version_line, "cpu_s": am_cpu, "machine_cpu_s": machine, **detail}
