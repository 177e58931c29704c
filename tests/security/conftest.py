"""A hostile client's view of the product: the real `pipeline sim`, `pipeline ingest` and `pipeline worker`
processes on the real broker, configured with one bearer token per role (session-scoped: the processes are
shared by the security tests, which each read back the state they must or must not have changed)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipeline.kafka import ensure_topics
from pipeline.sources.config import config_from_sim_credentials

ROLES = ("viewer", "operator", "approver", "admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_secret(directory: Path, name: str, value: str) -> str:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / name
    target.write_text(value, encoding="utf-8")
    target.chmod(0o600)
    return f"file:{target}"


@dataclass
class Proc:
    name: str
    args: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", *self.args],
                                     stdout=self.log.open("ab"), stderr=subprocess.STDOUT, env=dict(os.environ))

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        code = self.proc.returncode
        self.proc = None
        return code

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


@dataclass
class Stack:
    """The running processes and what a test needs to talk to them."""

    root: Path
    bootstrap: str
    prefix: str
    creds: dict[str, Any]
    tokens: dict[str, str]
    hr_secret: str
    sso_secret: str
    config: Path
    ingest_port: int
    worker_port: int
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def worker_url(self) -> str:
        return f"http://127.0.0.1:{self.worker_port}"

    def headers(self, role: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def topic(self, base: str) -> str:
        return f"{self.prefix}{base}"

    def start_ingest(self, name: str = "ingest", port: int | None = None) -> Proc:
        p = Proc(name, ["ingest", "--config", str(self.config), "--port", str(port or self.ingest_port)],
                 self.root / f"{name}.log")
        p.start()
        self.procs[name] = p
        wait_healthy(p, f"http://127.0.0.1:{port or self.ingest_port}/healthz")
        return p

    def start_worker(self) -> Proc:
        p = Proc("worker", ["worker", "--config", str(self.config)], self.root / "worker.log")
        p.start()
        self.procs["worker"] = p
        wait_healthy(p, f"{self.worker_url}/healthz")
        return p

    def stop(self, name: str) -> int | None:
        proc = self.procs.pop(name, None)
        return proc.stop() if proc else None


def wait_healthy(proc: Proc, url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            pytest.fail(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.tail()}")
        try:
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{proc.name} not healthy at {url}:\n{proc.tail()}")


def build_config(root: Path, bootstrap: str, prefix: str, creds_path: Path, creds: dict[str, Any],
                 tokens: dict[str, str], hr_secret: str, sso_secret: str, ingest_port: int,
                 worker_port: int) -> Path:
    secret_dir = root / "secrets"
    sso_ref = write_secret(secret_dir, "sso", sso_secret)
    ingest = config_from_sim_credentials(
        creds_path, http={"host": "127.0.0.1", "port": ingest_port},
        hr={"hmac_secret": write_secret(secret_dir, "hr", hr_secret)},
        sso={"secret": sso_ref, "path": "/sso"}, shutdown_grace_seconds=5.0)
    section: dict[str, Any] = ingest.model_dump(mode="json", exclude={"kafka", "auth"}, exclude_defaults=True)
    for corp in section["corps"]:
        corp["streams"] = []  # no pollers: this suite is about the HTTP surfaces
    config = {
        "kafka": {"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": 1},
        "auth": {"tokens": [{"name": f"sec-{role}", "roles": [role],
                             "token": write_secret(secret_dir, f"token_{role}", tokens[role])} for role in ROLES],
                 "max_failures": 1000},  # the walk itself fails auth hundreds of times from one address
        "ingest": section,
        "worker": {
            "app_id": f"{prefix}worker", "agents": ["audit", "alerting", "actions"],
            "http_host": "127.0.0.1", "http_port": worker_port,
            "audit": {"kind": "sqlite", "path": str(root / "audit.db")},
            "sse": {"token": write_secret(secret_dir, "sse", secrets.token_urlsafe(24)),
                    "topics": ["exmail.alerts"]},
            "console": {},
        },
        "alerting": {
            "routing": {"route": {"receiver": "nowhere"}, "receivers": [{"name": "nowhere"}]},
            "sso": {"base_url": f"http://127.0.0.1:{ingest_port}/sso", "secret": sso_ref},
        },
        "actions": {"approval": {"secret": write_secret(secret_dir, "approval", secrets.token_urlsafe(32)),
                                 "base_url": f"http://127.0.0.1:{worker_port}/actions"}},
    }
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@pytest.fixture(scope="session")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("security")
    prefix = f"sec{uuid.uuid4().hex[:8]}."
    sim_port = free_port()
    creds_path = root / "sim.json"
    sim = Proc("sim", ["sim", "--port", str(sim_port), "--credentials-out", str(creds_path)], root / "sim.log")
    sim.start()
    deadline = time.monotonic() + 30
    while not creds_path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if not creds_path.exists():
        sim.stop()
        pytest.fail("simulator did not start:\n" + sim.tail())
    creds = json.loads(creds_path.read_text())
    ensure_topics(kafka_bootstrap, prefix=prefix, partitions=1)
    tokens = {role: f"{role}-{secrets.token_urlsafe(24)}" for role in ROLES}
    hr_secret, sso_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    ingest_port, worker_port = free_port(), free_port()
    config = build_config(root, kafka_bootstrap, prefix, creds_path, creds, tokens, hr_secret, sso_secret,
                          ingest_port, worker_port)
    st = Stack(root, kafka_bootstrap, prefix, creds, tokens, hr_secret, sso_secret, config, ingest_port,
               worker_port, {"sim": sim})
    try:
        st.start_ingest()
        st.start_worker()
        yield st
    finally:
        for name in list(st.procs):
            st.stop(name)
