"""Child processes of the demo (`python -m pipeline.cli ...`) and the local Kafka broker script.

Children run in their own process group, so a Ctrl-C in the terminal reaches only the demo, which then stops
them in order (ingest first so it flushes, then the worker once it has caught up, then the simulator). On
Linux they also get SIGTERM if the demo itself dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

_PR_SET_PDEATHSIG = 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One child process with its log file; `stop()` is SIGTERM, wait, then SIGKILL."""

    def __init__(self, name: str, args: list[str], log_path: Path, env: dict[str, str] | None = None,
                 program: str | None = None) -> None:
        self.name = name
        self.args = args
        self.program = program  # None: `python -m pipeline.cli`; else an executable (rsyslogd)
        self.log_path = log_path
        self.env = env
        self.cwd = log_path.parent  # the run dir: what a child leaves behind (faust's data dir) stays there
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        return f"Child({self.name!r}, pid={self.pid})"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        argv = [self.program] if self.program else [sys.executable, "-m", "pipeline.cli"]
        self.proc = subprocess.Popen(
            [*argv, *self.args], stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, env=self.env or dict(os.environ), cwd=self.cwd, process_group=0,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float) -> int | None:
        """Ask the child to stop and wait; kill it after `timeout` seconds. Returns its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                self.proc.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def tail(self, chars: int = 3000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-chars:].decode("utf-8", "replace")


class Broker:
    """The local Kafka broker of ops/kafka/kafka.sh: reused when it runs, else started and later stopped."""

    def __init__(self, root: Path, log_path: Path) -> None:
        self.script = root / "ops" / "kafka" / "kafka.sh"
        self.log_path = log_path
        self.started = False

    def _run(self, action: str, timeout: float) -> subprocess.CompletedProcess[bytes]:
        with self.log_path.open("ab") as log:
            # its own session: the broker outlives a Ctrl-C in the terminal until we stop it ourselves
            return subprocess.run(["bash", str(self.script), action], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, timeout=timeout, check=False, start_new_session=True)

    def ensure(self) -> None:
        if not self.script.is_file():
            raise RuntimeError(f"no broker script at {self.script}; set EXMAIL_KAFKA_BOOTSTRAP to a running broker")
        if self._run("status", 60).returncode == 0:
            return
        started_at = time.monotonic()
        self.started = True  # it was not running: whatever runs from now on (even after a Ctrl-C) is ours
        res = self._run("start", 900)
        if res.returncode != 0:
            raise RuntimeError(f"ops/kafka/kafka.sh start failed after {time.monotonic() - started_at:.0f} s "
                               f"(log: {self.log_path})")

    def stop_if_started(self) -> None:
        if self.started:
            self._run("stop", 120)
            self.started = False
