"""Stall bookkeeping: lag with no committed progress for the window is a stall; progress or an empty backlog
clears it; a revoked partition is no longer this process's stall."""

from __future__ import annotations

import asyncio
from typing import Any

from pipeline.kafka.offsets import TP, PartitionOffsets
from pipeline.worker.lag import LagMonitor, StallDetector, Watched

TP0: TP = ("exmail.events", 0)
TP1: TP = ("exmail.events", 1)


def off(committed: int, high: int, low: int = 0) -> PartitionOffsets:
    return PartitionOffsets(committed=committed, low=low, high=high)


def test_lag_without_progress_for_the_window_is_a_stall_named_once() -> None:
    d = StallDetector(stall_after=30)
    assert d.observe(0, "audit", "g", {TP0: off(10, 50)}) == ([], [])
    assert d.observe(29, "audit", "g", {TP0: off(10, 50)}) == ([], [])
    new, recovered = d.observe(31, "audit", "g", {TP0: off(10, 50)})
    assert [(s.stage, s.topic, s.partition, s.lag, s.committed) for s in new] == [("audit", "exmail.events", 0,
                                                                                  40, 10)]
    assert recovered == []
    # still stalled later: reported by stalled(), but not announced again
    assert d.observe(60, "audit", "g", {TP0: off(10, 55)}) == ([], [])
    [stall] = d.stalled()
    assert (stall.lag, round(stall.seconds)) == (45, 60)


def test_committed_progress_resets_the_window_and_clears_a_stall() -> None:
    d = StallDetector(stall_after=30)
    d.observe(0, "audit", "g", {TP0: off(10, 50)})
    d.observe(20, "audit", "g", {TP0: off(11, 50)})  # moved: window starts again
    assert d.observe(45, "audit", "g", {TP0: off(11, 50)}) == ([], [])
    new, _ = d.observe(51, "audit", "g", {TP0: off(11, 50)})
    assert len(new) == 1
    new, recovered = d.observe(52, "audit", "g", {TP0: off(12, 50)})
    assert new == [] and [s.partition for s in recovered] == [0]
    assert d.stalled() == []


def test_an_idle_partition_with_nothing_to_do_never_stalls() -> None:
    d = StallDetector(stall_after=5)
    for t in range(0, 100, 10):
        assert d.observe(t, "faust", "g", {TP0: off(50, 50)}) == ([], [])
    # never committed, but also nothing to read
    for t in range(0, 100, 10):
        assert d.observe(t, "faust", "g", {TP1: off(-1, 7, low=7)}) == ([], [])


def test_a_never_committed_partition_with_records_stalls() -> None:
    d = StallDetector(stall_after=5)
    d.observe(0, "faust", "g", {TP1: off(-1, 9)})
    new, _ = d.observe(6, "faust", "g", {TP1: off(-1, 9)})
    assert [(s.lag, s.committed) for s in new] == [(9, -1)]


def test_a_revoked_partition_leaves_this_process_stall_list() -> None:
    d = StallDetector(stall_after=5)
    d.observe(0, "faust", "g", {TP0: off(1, 9), TP1: off(1, 9)})
    new, _ = d.observe(6, "faust", "g", {TP0: off(1, 9), TP1: off(1, 9)})
    assert len(new) == 2
    new, recovered = d.observe(7, "faust", "g", {TP1: off(1, 9)})
    assert new == [] and [s.partition for s in recovered] == [0]
    assert [s.partition for s in d.stalled()] == [1]


def test_stages_of_one_process_are_tracked_apart() -> None:
    d = StallDetector(stall_after=5)
    d.observe(0, "faust", "g1", {TP0: off(1, 9)})
    d.observe(0, "audit", "g2", {TP0: off(1, 9)})
    d.observe(6, "faust", "g1", {TP0: off(1, 9)})
    d.observe(6, "audit", "g2", {TP0: off(2, 9)})
    assert [(s.stage, s.group) for s in d.stalled()] == [("faust", "g1")]


class FakeProbe:
    """Stands in for the broker: a script of committed offsets per group."""

    def __init__(self) -> None:
        self.committed: dict[str, dict[TP, int]] = {}
        self.high: dict[TP, int] = {}
        self.fail: Exception | None = None
        self.closed = False

    def group_offsets(self, group: str, tps: list[Any]) -> dict[TP, PartitionOffsets]:
        if self.fail is not None:
            raise self.fail
        keys = [(tp.topic, tp.partition) for tp in tps]
        return {k: PartitionOffsets(self.committed.get(group, {}).get(k, -1), 0, self.high.get(k, 0)) for k in keys}

    def close(self) -> None:
        self.closed = True


def test_monitor_turns_unhealthy_logs_the_consumer_state_and_recovers(caplog: Any) -> None:
    probe = FakeProbe()
    now = [0.0]
    monitor = LagMonitor("unused:1", stall_after=10, probe=probe, clock=lambda: now[0])  # type: ignore[arg-type]
    monitor.watch(Watched("audit", "grp", lambda: [TP0], lambda: {"flow_active": False}))
    probe.committed["grp"] = {TP0: 3}
    probe.high[TP0] = 20

    async def run() -> None:
        await monitor.probe_once()
        now[0] = 11.0
        assert [s.partition for s in await monitor.probe_once()] == [0]
        health = monitor.health()
        assert health["ok"] is False
        assert health["stalled"][0]["stage"] == "audit" and health["stalled"][0]["lag"] == 17
        probe.committed["grp"] = {TP0: 20}
        now[0] = 12.0
        await monitor.probe_once()
        assert monitor.health() == {"ok": True, "stalled": []}

    with caplog.at_level("INFO", logger="pipeline.worker.lag"):
        asyncio.run(run())
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and "STALLED" in errors[0] and "exmail.events[0]" in errors[0]
    assert "flow_active: False" in errors[1]
    assert any("moving again" in r.getMessage() for r in caplog.records)
    monitor.close()
    assert probe.closed


def test_a_failing_probe_is_said_once_until_it_works_again(caplog: Any) -> None:
    probe = FakeProbe()
    monitor = LagMonitor("unused:1", stall_after=10, interval=0.01, probe=probe)  # type: ignore[arg-type]
    monitor.watch(Watched("faust", "grp", lambda: [TP0]))
    probe.fail = RuntimeError("broker away")

    async def run() -> None:
        task = asyncio.create_task(monitor.run_forever())
        await asyncio.sleep(0.2)
        probe.fail = None
        await asyncio.sleep(0.1)
        task.cancel()

    with caplog.at_level("WARNING", logger="pipeline.worker.lag"):
        asyncio.run(run())
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("lag probe failed" in m for m in messages) == 1
    assert sum("works again" in m for m in messages) == 1
    monitor.close()


def test_time_the_broker_was_away_is_not_counted_as_a_stage_stalling(caplog: Any) -> None:
    """An outage longer than the window: once the probe sees the broker again, a stage with lag gets a whole
    window to move before it is named stalled; one that does not move in it is named then."""
    probe = FakeProbe()
    now = [0.0]
    monitor = LagMonitor("unused:1", stall_after=30, probe=probe, clock=lambda: now[0])  # type: ignore[arg-type]
    monitor.watch(Watched("faust", "grp", lambda: [TP0, TP1]))
    probe.committed["grp"] = {TP0: 3, TP1: 5}
    probe.high.update({TP0: 20, TP1: 9})

    async def run() -> None:
        await monitor.probe_round()  # t=0: lag on both, progress counted from here
        probe.fail = RuntimeError("broker away")
        for t in (10.0, 20.0, 40.0):
            now[0] = t
            await monitor.probe_round()
        probe.fail = None
        now[0] = 45.0  # the broker is back; 45 s without a commit, 40 of them unseen
        await monitor.probe_round()
        assert monitor.health() == {"ok": True, "stalled": []}
        probe.committed["grp"][TP1] = 9  # one consumer catches up after the outage ...
        now[0] = 60.0
        await monitor.probe_round()
        now[0] = 76.0  # ... the other has not moved for a whole window since the broker came back
        await monitor.probe_round()
        assert [(s["topic"], s["partition"]) for s in monitor.health()["stalled"]] == [("exmail.events", 0)]

    with caplog.at_level("INFO", logger="pipeline.worker.lag"):
        asyncio.run(run())
    stalls = [r.getMessage() for r in caplog.records if "STALLED" in r.getMessage()]
    assert len(stalls) == 1 and "exmail.events[0]" in stalls[0]
    monitor.close()


def test_a_partition_stalled_before_an_outage_stays_stalled_after_it() -> None:
    d = StallDetector(stall_after=10)
    d.observe(0.0, "audit", "g", {TP0: off(1, 5)})
    new, _ = d.observe(11.0, "audit", "g", {TP0: off(1, 5)})
    assert [s.partition for s in new] == [0]
    d.resume(50.0)
    new, recovered = d.observe(51.0, "audit", "g", {TP0: off(1, 5)})
    assert new == [] and recovered == [] and [s.partition for s in d.stalled()] == [0]
