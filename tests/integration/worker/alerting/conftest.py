"""The simulator as a real `pipeline sim` process (Exmail + WeCom surfaces over TCP) for alerting tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def sim_process(tmp_path: Path) -> Iterator[dict[str, Any]]:
    port = _free_port()
    creds = tmp_path / "sim.json"
    log = (tmp_path / "sim.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "sim", "--port", str(port),
                             "--credentials-out", str(creds)], stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ))
    deadline = time.monotonic() + 30
    while not creds.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    if not creds.exists():
        proc.kill()
        pytest.fail("simulator did not start:\n" + (tmp_path / "sim.log").read_text()[-3000:])
    info = json.loads(creds.read_text())
    info["_port"] = port
    yield info
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def robot_messages(sim: dict[str, Any]) -> list[dict[str, Any]]:
    r = httpx.get(f"{sim['base_url']}/wecom/_sim/received", params={"outcome": "accepted"}, timeout=5)
    r.raise_for_status()
    return list(r.json()["received"])


@pytest.fixture
def robot_received() -> Any:
    return robot_messages
