"""`pipeline demo`'s signal handling, without processes: with --forever the first SIGINT/SIGTERM of the live
phase only asks the live loop to end (drain and checks follow); any other signal aborts at once. The graceful
end itself runs against real processes in tests/integration/demo/test_demo_forever_stop.py."""

from __future__ import annotations

import io
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.demo import DemoOptions, DemoRun
from pipeline.demo._run import Interrupted

MakeRun = Callable[[float | None], DemoRun]


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[MakeRun]:
    runs: list[DemoRun] = []

    def make(duration: float | None) -> DemoRun:
        run = DemoRun(DemoOptions(duration=duration, output_root=tmp_path), out=io.StringIO(), tty=False)
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.http.close()


def test_forever_first_signal_ends_the_live_phase_and_the_second_aborts(make_run: MakeRun) -> None:
    run = make_run(None)
    run._live_started = True
    run._on_signal(signal.SIGTERM, None)  # no exception: the live loop sees the flag and goes on to the drain
    assert run._stop_signal == signal.SIGTERM and run._interrupted is None
    with pytest.raises(Interrupted):
        run._on_signal(signal.SIGINT, None)
    assert run._interrupted == signal.SIGINT


def test_a_signal_during_start_up_or_a_timed_run_aborts_at_once(make_run: MakeRun) -> None:
    starting = make_run(None)  # --forever, live phase not reached yet: nothing to summarize
    with pytest.raises(Interrupted):
        starting._on_signal(signal.SIGINT, None)
    assert starting._stop_signal is None
    timed = make_run(60.0)
    timed._live_started = True
    with pytest.raises(Interrupted):
        timed._on_signal(signal.SIGINT, None)
    assert timed._stop_signal is None and timed._interrupted == signal.SIGINT


def test_signals_while_cleaning_up_are_only_recorded(make_run: MakeRun) -> None:
    run = make_run(None)
    run._live_started = True
    run._cleaning = True
    run._on_signal(signal.SIGINT, None)
    assert run._interrupted == signal.SIGINT and run._stop_signal is None
