"""Child processes of a benchmark run: started with a log file, stopped by pid (TERM, then KILL), peak RSS."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


class BenchError(RuntimeError):
    """A phase could not run (a service did not start, a deadline passed); the message says which."""


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process in MiB (None when it is gone or /proc has no such field)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a live process has used (/proc/<pid>/stat), None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds(stat: str = "/proc/stat") -> float:
    """CPU seconds every core of the machine has spent busy since boot: user, nice, system, irq and softirq of
    the aggregate `cpu` line (idle, iowait and the hypervisor's steal are not work done here). The difference
    over a burst is what every process on the machine spent on it, ours and our peers' alike."""
    with open(stat) as f:
        fields = f.readline().split()
    if fields[:1] != ["cpu"]:
        raise BenchError(f"{stat} does not start with the aggregate cpu line")
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def listener_pid(port: int) -> int | None:
    """The process listening on a local TCP port (the broker of a --bootstrap run), from /proc/net/tcp{,6} and
    the processes' socket descriptors; None when it is not found or not readable (another user's process)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(fields[9])
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(proc.name)
        except OSError:
            continue
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Proc:
    """One child process; its stdout and stderr go to `log`."""

    def __init__(self, name: str, args: Sequence[str], log: Path, *, cwd: Path,
                 env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        self.args = list(args)
        self._log_file = log.open("wb")
        self.popen = subprocess.Popen(self.args, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=cwd,
                                      env={**os.environ, **(env or {})})
        self.peak_rss: float | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def cpu(self) -> float:
        return cpu_seconds(self.pid) or 0.0

    def sample_rss(self) -> float | None:
        """Remember the peak RSS while the process still runs (VmHWM is lost when it exits)."""
        value = peak_rss_mb(self.pid)
        if value is not None:
            self.peak_rss = max(value, self.peak_rss or 0.0)
        return self.peak_rss

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.alive():
            self.sample_rss()
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    self.popen.kill()
                self.popen.wait(10)
        self._log_file.close()
        return self.popen.returncode

    def check(self) -> None:
        if not self.alive():
            raise BenchError(f"{self.name} exited with {self.popen.returncode}:\n{self.tail()}")


class Procs:
    """Every process a phase starts; leaving the block stops them in reverse order."""

    def __init__(self, log_dir: Path, cwd: Path) -> None:
        self.log_dir = log_dir
        self.cwd = cwd
        self.started: list[Proc] = []

    def start(self, name: str, args: Sequence[str], env: Mapping[str, str] | None = None) -> Proc:
        proc = Proc(name, args, self.log_dir / f"{name}.log", cwd=self.cwd, env=env)
        self.started.append(proc)
        return proc

    def pipeline(self, name: str, *args: str, env: Mapping[str, str] | None = None) -> Proc:
        """`pipeline <args>` with this interpreter."""
        return self.start(name, [PYTHON, "-m", "pipeline.cli", *args], env=env)

    def worker(self, name: str, config: Path, bootstrap: str, prefix: str, agents: Sequence[str],
               env: Mapping[str, str] | None = None) -> Proc:
        """`pipeline worker` on `prefix`; its consumer group and internal topics start with the prefix too."""
        args = ["worker", "--config", str(config), "--bootstrap", bootstrap, "--prefix", prefix,
                "--app-id", f"{prefix}worker", "--http-port", "0"]
        for agent in agents:
            args += ["--agent", agent]
        return self.pipeline(name, *args, env=env)

    def __enter__(self) -> Procs:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for proc in reversed(self.started):
            proc.stop()


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05,
             watch: Sequence[Proc] = ()) -> float:
    """Poll until `predicate()`; returns the time.time() it became true. Raises BenchError on timeout or
    when a watched process died."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return time.time()
        for proc in watch:
            proc.check()
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
