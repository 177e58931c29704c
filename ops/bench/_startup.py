"""Worker start to healthy: `pipeline worker` (normalize, alerting, delivery) from process start to /healthz 200.

Three starts on one consumer group: the first (topics exist), a restart after SIGTERM, a restart after SIGKILL
with static membership (`--instance-id`, the crash case the demo and deployments use), and, as the "before"
figure, a restart after SIGKILL with dynamic membership (the replaced member holds the partitions until its
session timeout, 15 s)."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from pathlib import Path

import httpx
import yaml
from _procs import BenchError, Proc, Procs, free_port
from _report import Row
from _throughput import Context, PhaseResult

TARGET_S = 3.0
AGENTS = ("normalize", "alerting", "delivery")


def _config(path: Path) -> Path:
    # a worker serving the silences API over HTTP refuses to start without credentials (docs/operations.md)
    token = path.with_suffix(".token")
    token.write_text(secrets.token_urlsafe(32))
    token.chmod(0o600)
    path.write_text(yaml.safe_dump({
        "auth": {"tokens": [{"name": "bench", "roles": ["admin"], "token": f"file:{token}"}]},
        "alerting": {"routing": {
        "route": {"receiver": "bench-hook", "group_by": ["alertname"], "group_wait": "0s"},
        "receivers": [{"name": "bench-hook", "kind": "webhook", "url": "http://127.0.0.1:9/unused",
                       "allow_unsigned": True}]}}}))
    return path


async def _healthy(proc: Proc, port: int, within: float) -> float:
    """Seconds from now until /healthz answers 200 (the caller starts the clock just before starting)."""
    start = time.monotonic()
    async with httpx.AsyncClient(timeout=1.0) as http:
        while time.monotonic() - start < within:
            proc.check()
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return time.monotonic() - start
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.02)
    raise BenchError(f"{proc.name} not healthy within {within:.0f} s:\n{proc.tail()}")


async def worker_startup(ctx: Context) -> PhaseResult:
    names = ctx.topics("startup")
    cfg = _config(ctx.tmp / "worker-startup.yaml")
    port = free_port()
    measured: dict[str, float] = {}
    cpu: dict[str, float] = {}

    async def start(procs: Procs, label: str, instance: str | None) -> Proc:
        args = ["worker", "--config", str(cfg), "--bootstrap", ctx.bootstrap, "--prefix", names.prefix,
                "--app-id", f"{names.prefix}worker", "--http-port", str(port)]
        if instance:
            args += ["--instance-id", instance]
        for agent in AGENTS:
            args += ["--agent", agent]
        t0 = time.monotonic()
        proc = procs.pipeline(f"worker-startup-{label}", *args)
        await _healthy(proc, port, 90)
        measured[label] = time.monotonic() - t0
        cpu[label] = proc.cpu()
        await asyncio.sleep(1.0)  # joined and settled
        return proc

    def kill(proc: Proc) -> None:
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(30)

    with Procs(ctx.tmp, ctx.tmp) as procs:
        first = await start(procs, "first", "w1")
        first.stop()
        kill_me = await start(procs, "after-sigterm", "w1")
        kill(kill_me)
        static = await start(procs, "after-sigkill", "w1")
        static.stop()
    with Procs(ctx.tmp, ctx.tmp) as procs:  # a group of its own: dynamic membership, the "before" figure
        names = ctx.topics("startup-dynamic")
        dyn = await start(procs, "dynamic-first", None)
        kill(dyn)
        (await start(procs, "dynamic-after-sigkill", None)).stop()
    note = (f"first start {measured['first']:.1f} s; CPU used to healthy {cpu['after-sigkill']:.1f} s (the "
            f"floor on an idle core); dynamic membership after SIGKILL {measured['dynamic-after-sigkill']:.1f} s "
            f"(the old behaviour); load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    return ([Row("worker start to healthy (after SIGKILL, instance id)", measured["after-sigkill"], "s",
                 TARGET_S, "limit", notes=note),
             Row("worker start to healthy (after SIGTERM)", measured["after-sigterm"], "s", TARGET_S, "limit")],
            {"seconds": measured, "cpu_seconds": cpu})
