"""Issue 17 drill: broker outages under `pipeline demo --forever`, alternating SIGTERM and SIGKILL of the broker.

    .venv/bin/python ops/drills/broker_outages.py [--outages 10] [--min-seconds 20] [--max-seconds 40]
        [--results ops/drills/results/broker-outages-<date>.md]

Runs against a PRIVATE broker (ops/kafka/kafka.sh with EXMAIL_STATE_DIR=<temp dir>, EXMAIL_KAFKA_PORT=<free port>),
never the shared one. The demo runs until the last outage is over; each outage records the signal, how long the
broker was away, how long the pipeline took to resume by itself (the worker's /healthz answers 200 and its
normalize counter and ingest's produced counter both move past their values at the outage), the worker's log
lines written meanwhile, and any process that exited. Then the demo gets SIGINT (it stops its sources, drains
and runs its summary checks) and its exit code and checks go into the results file. Exit 0 when no process
died, every outage resumed and the demo exited 0.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from _ports import free_pair  # ops/drills/_ports.py: this script's folder is on sys.path when it runs
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "ops" / "kafka" / "kafka.sh"


class PrivateBroker:
    def __init__(self, state: Path, port: int) -> None:
        self.state, self.port = state, port
        self.env = {**os.environ, "EXMAIL_STATE_DIR": str(state), "EXMAIL_KAFKA_PORT": str(port),
                    "EXMAIL_KAFKA_HEAP": "512m"}
        self.env.pop("EXMAIL_KAFKA_BOOTSTRAP", None)

    def script(self, action: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", str(KAFKA_SH), action], env=self.env, capture_output=True, text=True,
                              timeout=timeout, check=False)

    def start(self) -> None:
        res = self.script("start")
        if res.returncode != 0:
            raise RuntimeError(f"private broker did not start: {res.stderr[-2000:]}")

    def pid(self) -> int:
        return int((self.state / "kafka" / "kafka.pid").read_text().strip())

    def signal(self, sig: signal.Signals) -> None:
        pid = self.pid()
        os.kill(pid, sig)
        deadline = time.monotonic() + 120
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):  # a controlled shutdown that never ends is a broker crash for this drill's purpose
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not reaped) is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


@dataclass
class Outage:
    n: int
    sig: str
    planned: float
    down_seconds: float = 0.0
    restart_seconds: float = 0.0
    resume_seconds: float | None = None
    worker_log_lines: int = 0
    worker_errors: int = 0
    exits: list[str] = field(default_factory=list)


def counters(http: httpx.Client, url: str) -> dict[str, float]:
    """Totals the drill watches: the worker's normalized records, ingest's produced records."""
    try:
        text = http.get(url, timeout=3.0).text
    except httpx.HTTPError:
        return {}
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "exmail_transform_records_total" and s.labels.get("transform") == "normalize" \
                    and s.labels.get("outcome") == "ok":
                out["normalized"] = out.get("normalized", 0.0) + s.value
            elif s.name == "exmail_records_produced_total":
                out["produced"] = out.get("produced", 0.0) + s.value
    return out


def healthy(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url, timeout=3.0).status_code == 200
    except httpx.HTTPError:
        return False


class Drill:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="broker-outages-"))
        self.broker = PrivateBroker(self.tmp / "state", free_pair())
        self.demo_out = self.tmp / "demo.out"
        self.demo: subprocess.Popen[bytes] | None = None
        self.pids: dict[str, int] = {}
        self.urls: dict[str, str] = {}
        self.http = httpx.Client()
        self.outages: list[Outage] = []
        self.rng = random.Random(args.seed)
        self.load_at_start = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        dirty = " + uncommitted changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
        self.revision = _git("rev-parse", "--short", "HEAD") + dirty  # what the demo's processes run

    def say(self, text: str) -> None:
        print(f"[{datetime.now(UTC):%H:%M:%S}] {text}", flush=True)

    def demo_text(self) -> str:
        return self.demo_out.read_text(errors="replace")

    def run_dir(self) -> Path | None:
        m = re.search(r"run directory (\S+)", self.demo_text())
        return Path(m.group(1)) if m else None

    def start(self) -> None:
        self.say(f"private broker at 127.0.0.1:{self.broker.port} (state {self.broker.state})")
        self.broker.start()
        env = {**self.broker.env, "EXMAIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.broker.port}"}
        with self.demo_out.open("wb") as fh:
            self.demo = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "demo", "--forever", "--output",
                                          str(self.tmp / "demo-output")], stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, cwd=ROOT)
        deadline = time.monotonic() + 300
        pattern = re.compile(r"\] (simulator|ingest|worker): (http://127\.0\.0\.1:\d+)\S* \(pid (\d+)")
        while len(self.pids) < 3:
            assert self.demo.poll() is None, f"the demo exited during start-up:\n{self.demo_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the demo did not start:\n{self.demo_text()[-3000:]}"
            for name, url, pid in pattern.findall(self.demo_text()):
                self.pids[name], self.urls[name] = int(pid), url.rstrip("/")
            time.sleep(1)
        self.say(f"demo running: {self.run_dir()} (pids {self.pids})")
        # warm up: every stream flowing and a first delivery, as in a normal run
        deadline = time.monotonic() + self.args.warmup
        while time.monotonic() < deadline and not re.search(r"\| delivered [1-9]", self.demo_text()):
            self.check_alive("warm-up")
            time.sleep(2)

    def check_alive(self, when: str) -> list[str]:
        dead = [f"{name} (pid {pid}) gone {when}" for name, pid in self.pids.items() if not _alive(pid)]
        assert self.demo is not None
        if self.demo.poll() is not None:
            dead.append(f"the demo exited with {self.demo.returncode} {when}")
        return dead

    def worker_log(self) -> list[str]:
        run = self.run_dir()
        if run is None or not (run / "worker.log").is_file():
            return []
        return (run / "worker.log").read_text(errors="replace").splitlines()

    def outage(self, n: int) -> Outage:
        sig = signal.SIGTERM if n % 2 == 1 else signal.SIGKILL
        o = Outage(n, sig.name, round(self.rng.uniform(self.args.min_seconds, self.args.max_seconds), 1))
        worker, ingest = f"{self.urls['worker']}/metrics", f"{self.urls['ingest']}/metrics"
        before = {**counters(self.http, ingest), **counters(self.http, worker)}
        log_before = len(self.worker_log())
        self.say(f"outage {n}: {sig.name} to the broker for {o.planned} s (before: {before})")
        t0 = time.monotonic()
        self.broker.signal(sig)
        while time.monotonic() - t0 < o.planned:
            o.exits += self.check_alive(f"during outage {n}")
            if o.exits:
                break
            time.sleep(1)
        o.down_seconds = round(time.monotonic() - t0, 1)
        t1 = time.monotonic()
        self.broker.start()
        o.restart_seconds = round(time.monotonic() - t1, 1)
        deadline = time.monotonic() + self.args.resume_timeout
        while not o.exits and time.monotonic() < deadline:
            o.exits += self.check_alive(f"after outage {n}")
            now = {**counters(self.http, ingest), **counters(self.http, worker)}
            moved = all(now.get(k, 0) > before.get(k, 0) for k in ("normalized", "produced"))
            if moved and healthy(self.http, f"{self.urls['worker']}/healthz"):
                o.resume_seconds = round(time.monotonic() - t1, 1)
                break
            time.sleep(1)
        lines = self.worker_log()[log_before:]
        o.worker_log_lines = len(lines)
        o.worker_errors = sum("] [ERROR] " in x for x in lines)
        self.say(f"outage {n}: down {o.down_seconds} s, broker back in {o.restart_seconds} s, pipeline resumed "
                 f"{o.resume_seconds} s after the restart; worker log +{o.worker_log_lines} lines; exits {o.exits}")
        return o

    def finish(self) -> tuple[int | None, dict[str, Any]]:
        assert self.demo is not None
        if self.demo.poll() is None:
            self.say("SIGINT to the demo: it stops its sources, drains and runs its checks")
            self.demo.send_signal(signal.SIGINT)
            try:
                self.demo.wait(self.args.end_timeout)
            except subprocess.TimeoutExpired:
                self.demo.kill()
                self.demo.wait(30)
        run = self.run_dir()
        summary: dict[str, Any] = {}
        if run is not None and (run / "summary.json").is_file():
            summary = orjson.loads((run / "summary.json").read_bytes())
        return self.demo.returncode, summary

    def report(self, code: int | None, summary: dict[str, Any], started: datetime) -> str:
        ok_outages = all(o.resume_seconds is not None and not o.exits for o in self.outages)
        lines = [f"# Broker outage drill ({started:%Y-%m-%dT%H:%MZ})", "",
                 f"Command: `.venv/bin/python ops/drills/broker_outages.py --outages {self.args.outages} "
                 f"--min-seconds {self.args.min_seconds:g} --max-seconds {self.args.max_seconds:g} --seed "
                 f"{self.args.seed}` at {self.revision} on {os.cpu_count()} cores (load at "
                 f"the start {self.load_at_start}). A private broker (`ops/kafka/kafka.sh`, own state dir and port), "
                 "`pipeline demo --forever` against it; outage n: SIGTERM (odd n) or SIGKILL (even n) to the broker, "
                 "restart with `kafka.sh start` after the planned time. Resumed = the worker's /healthz answers 200 "
                 "and both ingest's produced and the worker's normalized counters moved past their values before "
                 "the outage; measured from the restart command.", "",
                 "| # | signal | broker away (s) | restart until broker ready (s) | resumed after restart (s) | "
                 "worker log lines during | of them ERROR | process exits |",
                 "|---|---|---|---|---|---|---|---|"]
        for o in self.outages:
            lines.append(f"| {o.n} | {o.sig} | {o.down_seconds} | {o.restart_seconds} | "
                         f"{o.resume_seconds if o.resume_seconds is not None else 'NOT RESUMED'} | "
                         f"{o.worker_log_lines} | {o.worker_errors} | {'; '.join(o.exits) or 'none'} |")
        lines += ["", f"Demo exit code after SIGINT: {code} (stopped_by {summary.get('stopped_by')}, interrupted "
                      f"{summary.get('interrupted')}, live {summary.get('live_seconds')} s, ok {summary.get('ok')})",
                  "", "Summary checks:"]
        lines += [f"- {'✓' if c['ok'] else '✗'} {c['name']}: {c['detail']}" for c in summary.get("checks", [])]
        lines += [f"- ! {p}" for p in summary.get("problems", [])]
        children = summary.get("children", {})
        lines += ["", "Children at the end: " + ", ".join(f"{k} exit {v.get('returncode')}"
                                                          for k, v in sorted(children.items())),
                  f"Counts: {summary.get('events_distinct')} distinct events, {summary.get('audit_rows')} audit rows, "
                  f"alerts {sum(v.get('firing', 0) for v in summary.get('alerts_by_rule', {}).values())} firing, "
                  f"deliveries {summary.get('deliveries')}", "",
                  f"Result: {'PASS' if ok_outages and code == 0 else 'FAIL'} — every outage resumed with no process "
                  f"exit: {ok_outages}; demo exit 0 with all checks: {code == 0}"]
        return "\n".join(lines) + "\n"

    def cleanup(self) -> None:
        if self.demo is not None and self.demo.poll() is None:
            self.demo.kill()
        self.broker.script("stop")
        self.http.close()
        if not self.args.keep:
            shutil.rmtree(self.broker.state, ignore_errors=True)


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--outages", type=int, default=10)
    parser.add_argument("--min-seconds", type=float, default=20.0)
    parser.add_argument("--max-seconds", type=float, default=40.0)
    parser.add_argument("--gap", type=float, default=20.0, help="seconds of normal running after each recovery")
    parser.add_argument("--warmup", type=float, default=120.0, help="at most this long for a first delivery")
    parser.add_argument("--resume-timeout", type=float, default=240.0)
    parser.add_argument("--end-timeout", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", action="store_true", help="keep the broker's state dir")
    parser.add_argument("--results", type=Path,
                        default=ROOT / "ops" / "drills" / "results" /
                        f"broker-outages-{datetime.now(UTC):%Y-%m-%d}.md")
    args = parser.parse_args()
    started = datetime.now(UTC)
    drill = Drill(args)
    code: int | None = None
    summary: dict[str, Any] = {}
    try:
        drill.start()
        for n in range(1, args.outages + 1):
            o = drill.outage(n)
            drill.outages.append(o)
            if o.exits or o.resume_seconds is None:
                break
            end = time.monotonic() + args.gap
            while time.monotonic() < end:
                o.exits += drill.check_alive(f"after the recovery from outage {n}")
                time.sleep(1)
        code, summary = drill.finish()
    finally:
        drill.cleanup()
    text = drill.report(code, summary, started)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(text, encoding="utf-8")
    print(text)
    print(f"demo output kept in {drill.tmp} (demo.out, demo-output/)")
    return 0 if "Result: PASS" in text else 1


if __name__ == "__main__":
    sys.exit(main())
