"""Time of one log/login pass over a large tenant, against the simulator with rate limits on.

    .venv/bin/python ops/bench/login_pass.py [--users 10000] [--qps 10] [--modes before,after] [--out FILE]

The simulator (in process, over TCP) answers at most `--qps` calls per app per second (45009 beyond) and the
client keeps its default 10 calls/s per app. Modes:
  before       every user every run (what the poller did before it had a budget): budget unbounded, no pacing
  after        the defaults of poll.login: a budget of 0.5 x the app's rate x the 600 s interval, the users
               active in the mail log first plus a rotation that reads everyone within sweep_seconds, the
               calls paced over 80 % of the interval
  after-burst  the same plan with the calls sent at once (the raw API time of the planned run)
Each mode prints and records: calls, users read for being active, wall seconds of the run, and the rotation
share. Needs the Kafka broker of EXMAIL_KAFKA_BOOTSTRAP (records go to a throw-away topic prefix).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

from pipeline.ingest import Ingest
from pipeline.kafka import bootstrap_from_env
from pipeline.sim import SimConfig, run_simulator
from pipeline.sources.config import IngestConfig, config_from_sim_credentials
from pipeline.sources.logs import LoginLogPoller

MODES = {
    "before": {"budget_calls": 10**9, "spread_fraction": 0.0},
    "after": {},
    "after-burst": {"spread_fraction": 0.0},
}


def ingest_config(handle: Any, workdir: Path, login: dict[str, Any]) -> IngestConfig:
    path = workdir / "sim.json"
    path.write_bytes(orjson.dumps(handle.credentials))
    base = config_from_sim_credentials(path)
    corp = base.corps[0].model_dump()
    corp["streams"] = ["directory", "mail_log", "login_log"]
    return IngestConfig.model_validate({
        "corps": [corp], "clock": base.clock.model_dump(),
        "poll": {"backfill_days": 0, "login": login},
        "kafka": {"bootstrap": bootstrap_from_env(), "topic_prefix": f"bench-login-{uuid.uuid4().hex[:8]}.",
                  "partitions": 1},
        "http": {"host": "127.0.0.1", "port": 0},
    })


async def one_mode(handle: Any, mode: str, workdir: Path) -> dict[str, Any]:
    ingest = Ingest(ingest_config(handle, workdir, MODES[mode]), clock=handle.sim.clock)
    try:
        await ingest.open()
        corp = next(iter(ingest.corps.values()))
        for name in ("directory", "mail_log", "login_log"):
            await corp.pollers[name].prepare()
        for name in ("directory", "mail_log"):
            if not await corp.pollers[name].run_once():
                raise RuntimeError(f"{name} poll failed")
        poller = corp.pollers["login_log"]
        assert isinstance(poller, LoginLogPoller)
        users = len(corp.runtime.directory.users)
        calls_before = handle.sim.api.calls.get("log/login", 0)
        started = time.monotonic()
        await poller.run_window()
        seconds = time.monotonic() - started
        plan = poller.last_plan
        assert plan is not None
        result = {"mode": mode, "users": users, "calls": handle.sim.api.calls.get("log/login", 0) - calls_before,
                  "planned": len(plan.users), "active_read": plan.active, "budget": poller.budget(),
                  "rotation_read": len(plan.users) - plan.active, "rotation_completed": plan.completes,
                  "seconds": round(seconds, 1), "interval": poller.interval}
        print(orjson.dumps(result).decode(), flush=True)
        return result
    finally:
        await ingest.close()


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    config = SimConfig(users=args.users, seed=5, speed=0, start="2026-03-10T10:00:00+08:00", mount_surfaces=False,
                       traffic={"enabled": True, "history_hours": 1.0}, choices={"app_qps": args.qps})
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        async with run_simulator(config) as handle:
            for mode in args.modes.split(","):
                results.append(await one_mode(handle, mode, Path(tmp)))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--qps", type=float, default=10.0)
    parser.add_argument("--modes", default="before,after,after-burst")
    parser.add_argument("--out")
    arguments = parser.parse_args()
    measured = asyncio.run(main(arguments))
    if arguments.out:
        Path(arguments.out).write_bytes(orjson.dumps(measured, option=orjson.OPT_INDENT_2))
    sys.exit(0)
