"""A real `pipeline worker` subprocess against the real broker, with a fresh topic prefix and app id."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Consumer

from pipeline.kafka import ensure_topics


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WorkerProcess:
    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.args, self.log_path, self.env = args, log, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "worker", *self.args],
                                     stdout=self._log, stderr=subprocess.STDOUT, env=self.env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._log.close()
        return rc


@pytest.fixture
def worker_factory(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    started: list[WorkerProcess] = []
    app_id = f"{topic_prefix}worker"

    def make(*extra: str, name: str = "worker") -> WorkerProcess:
        args = ["--bootstrap", kafka_bootstrap, "--prefix", topic_prefix, "--app-id", app_id,
                "--http-port", "0", *extra]
        env = dict(os.environ, EXMAIL_STATE_DIR=str(tmp_path / "state"))
        wp = WorkerProcess(args, tmp_path / f"{name}.log", env)
        wp.start()
        started.append(wp)
        return wp

    yield make
    for wp in started:
        if wp.proc is not None and wp.proc.poll() is None:
            wp.stop(signal.SIGKILL, timeout=10)


@pytest.fixture
def consume_all() -> Callable[..., list[dict]]:
    return _consume_all


def _consume_all(bootstrap: str, topic: str, expect: int, timeout: float = 60,
                alive: Callable[[], bool] = lambda: True) -> list[dict]:
    """Read `topic` from the beginning until `expect` records arrived (or timeout)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"check-{time.monotonic_ns()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    out: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(out) < expect and time.monotonic() < deadline and alive():
        msg = c.poll(0.5)
        if msg is not None and not msg.error():
            out.append(orjson.loads(msg.value() or b"{}"))
    # linger briefly to catch records beyond the expectation (duplicates)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        msg = c.poll(0.3)
        if msg is not None and not msg.error():
            out.append(orjson.loads(msg.value() or b"{}"))
    c.close()
    return out
