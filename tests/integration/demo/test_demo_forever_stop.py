"""`pipeline demo --forever` ended by a signal: the first SIGINT/SIGTERM ends the run the way a timed run ends
(ingest stops, the worker drains, the same summary checks decide the exit code). Real processes on the real
broker; the demo is driven from outside, as a user's terminal would. (That a second signal aborts at once is
tests/unit/demo/test_run.py: the abort path is the one a timed run's Ctrl-C has always taken.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline.demo._view import STREAMS

from .test_demo_run import _delete_run_topics, _processes_mentioning

pytestmark = pytest.mark.integration


class _Demo:
    def __init__(self, out_root: Path, *extra: str) -> None:
        self.out_root = out_root
        self.log = out_root.parent / "demo.out"
        self._fh = self.log.open("wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "demo", "--forever", "--output",
                                      str(out_root), *extra], stdout=self._fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=dict(os.environ))

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, what: str, ok: Any, limit: float = 240.0) -> str:
        """Until `ok(output)` holds; the limit only keeps a broken run from hanging the suite."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            text = self.text()
            if ok(text):
                return text
            assert self.proc.poll() is None, f"demo exited ({self.proc.returncode}) before {what}:\n{text[-4000:]}"
            time.sleep(0.5)
        raise AssertionError(f"no {what} in the demo's output:\n{self.text()[-4000:]}")

    def summary(self) -> dict[str, Any]:
        runs = sorted(self.out_root.iterdir())
        assert len(runs) == 1, runs
        return dict(json.loads((runs[0] / "summary.json").read_text()))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)
        self._fh.close()


@pytest.fixture
def demo_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "demo-output"


def _every_stream_and_a_delivery(text: str) -> bool:
    """The last live line shows records on every stream and at least one delivery: a run worth summarizing."""
    lines = [x for x in text.splitlines() if "] running: produced" in x]
    if not lines:
        return False
    last = lines[-1]
    delivered = re.search(r"\| delivered (\d+)", last)
    return bool(delivered and int(delivered.group(1)) > 0
                and all(re.search(rf"\b{s} [1-9]", last) for s in STREAMS))


def test_first_sigint_drains_and_checks_like_a_timed_run(kafka_bootstrap: str, demo_dir: Path) -> None:
    demo = _Demo(demo_dir)
    summary: dict[str, Any] = {}
    try:
        demo.wait_for("live line with every stream and a delivery", _every_stream_and_a_delivery)
        demo.proc.send_signal(signal.SIGINT)
        code = demo.proc.wait(240)
        text = demo.text()
        summary = demo.summary()
        assert code == 0, text[-6000:]
        assert "SIGINT: ending the run" in text and "Demo finished (SIGINT ended the live phase)" in text
        assert summary["stopped_by"] == "SIGINT" and not summary["interrupted"] and summary["ok"]
        names = {c["name"] for c in summary["checks"]}
        # the same checks as a timed run, the drain among them, all holding
        assert {"every stream produced records", "alerts delivered to the simulated WeCom",
                "audit rows == events on exmail.events + exmail.actions",
                "the worker caught up after ingest stopped"} <= names, names
        assert all(c["ok"] for c in summary["checks"]), summary["checks"]
        assert summary["drained"]["ok"] and not any(summary["drained"]["lag_by_stage"].values())
        assert all(c["returncode"] == 0 for c in summary["children"].values()), summary["children"]
        assert _processes_mentioning(summary["run_dir"]) == []
    finally:
        demo.close()
        if summary:
            _delete_run_topics(kafka_bootstrap, summary)
