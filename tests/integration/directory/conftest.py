"""The admin commands (`pipeline directory|policy|api`) against a `pipeline sim` subprocess over TCP.

One simulator process per module (frozen clock, no background traffic): every test exports or reads the
directory it starts from, so tests in a module do not depend on each other's changes. Commands run in-process
through click's runner (fast), or as subprocesses where a test kills them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner, Result

from pipeline.cli import main
from pipeline.kafka.reader import scan

ROOT = Path(__file__).resolve().parents[3]
START = "2026-03-10T09:00:00+08:00"
TODAY = "2026-03-10"
DOMAIN = "corp.example.com"


@dataclass
class SimProcess:
    proc: subprocess.Popen[str]
    credentials: Path
    creds: dict[str, Any]

    @property
    def admin(self) -> str:
        return str(self.creds["admin_base"])

    def get(self, path: str, **params: Any) -> Any:
        return httpx.get(self.admin + path, params=params, timeout=10).json()

    def post(self, path: str, body: Any) -> Any:
        return httpx.post(self.admin + path, json=body, timeout=10).json()

    def delete(self, path: str) -> Any:
        return httpx.delete(self.admin + path, timeout=10).json()

    def directory(self) -> dict[str, Any]:
        return self.get("state/directory")  # type: ignore[no-any-return]

    def options(self) -> dict[str, Any]:
        return self.get("state/options")  # type: ignore[no-any-return]

    def operation_log(self) -> list[dict[str, Any]]:
        return [r["record"] for r in self.get("truth/operation_log", date=TODAY)["records"]]

    def groups(self) -> list[str]:
        return [g["groupid"] for g in self.directory()["groups"]]


@pytest.fixture(scope="module")
def sim_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    workdir = tmp_path_factory.mktemp("sim")
    creds = workdir / "sim.json"
    cmd = [sys.executable, "-m", "pipeline.cli", "sim", "--port", "0", "--users", "60", "--seed", "5",
           "--speed", "0", "--no-traffic", "--start", START, "--credentials-out", str(creds)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not creds.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the simulator did not write its credentials file"
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written before the last flush of its content
        yield SimProcess(proc, creds, orjson.loads(creds.read_bytes()))
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


Cli = Callable[..., Result]


@pytest.fixture
def cli(sim_process: SimProcess) -> Cli:
    """cli("directory", "export", ...) runs `pipeline ...` in-process against the simulator."""

    def run(*args: str, tenant: bool = True) -> Result:
        extra = ["--sim-credentials", str(sim_process.credentials)] if tenant else []
        return CliRunner().invoke(main, [*args, *extra], catch_exceptions=False)

    return run


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> Callable[[str], list[dict[str, Any]]]:
    """read_topic(full_name) -> every envelope in the topic, from the earliest offset."""

    def read(topic: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        scan(kafka_bootstrap, topic, lambda _k, v: out.append(orjson.loads(v)) if v is not None else None)
        return out

    return read
