"""A Kafka broker of a test's own (state in a temp dir, free ports), so a test can stop, SIGKILL and restart it
without disturbing the shared broker every other test uses."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ops.drills._ports import free_pair  # one port-pair picker for the drills and the tests

ROOT = Path(__file__).resolve().parents[2]


class PrivateKafka:
    def __init__(self) -> None:
        self.state = Path(tempfile.mkdtemp(prefix="exmail-kafka-"))
        self.port = free_pair()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._env = dict(os.environ, EXMAIL_STATE_DIR=str(self.state), EXMAIL_KAFKA_PORT=str(self.port),
                         EXMAIL_KAFKA_HEAP="256m")

    def _script(self, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(ROOT / "ops/kafka/kafka.sh"), action], capture_output=True, text=True,
                              env=self._env, timeout=180, check=False)

    def start(self) -> None:
        res = self._script("start")
        if res.returncode != 0:
            raise RuntimeError(f"private broker did not start: {res.stderr[-2000:]}")

    def stop(self) -> None:
        """SIGTERM (controlled shutdown), waiting for the exit."""
        self._script("stop")

    def kill(self) -> None:
        """SIGKILL: the broker vanishes mid-request, as in a crash."""
        pidfile = self.state / "kafka" / "kafka.pid"
        if not pidfile.is_file():
            return
        pid = int(pidfile.read_text().strip())
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        pidfile.unlink(missing_ok=True)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)
