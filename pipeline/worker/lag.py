"""Consumer lag and stall detection for every consumer in the worker process.

A stream worker that stops without a word is the worst failure a log pipeline can have (issue 11). The monitor
reads, from the broker, the committed offset and the high watermark of every partition this process owns, for
each consumer group it runs (the faust app, and any batch consumer). A partition with lag whose committed
offset has not moved for `stall_after` seconds is *stalled*: that is logged at ERROR with the consumer's own
account of itself, counted in exmail_consumer_stalls_total, and turns /healthz unhealthy until it moves again.
The test is made from outside the consumer (the broker's view), so it holds whatever inside the consumer broke:
a fetcher that stopped, a blocked agent, a commit that keeps failing.

All broker calls go through one OffsetProbe on one thread of our own, created once for the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import TopicPartition

from pipeline.kafka.offsets import TP, OffsetProbe, PartitionOffsets
from pipeline.metrics import CONSUMER_LAG, CONSUMER_STALLED, CONSUMER_STALLS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Watched:
    """One consumer of this process: its stage name, its group, the partitions it owns now, and (optionally)
    its own description of its state, logged when one of its partitions stalls."""

    stage: str
    group: str
    assignment: Callable[[], Iterable[TP]]
    describe: Callable[[], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Stall:
    stage: str
    group: str
    topic: str
    partition: int
    lag: int
    committed: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "group": self.group, "topic": self.topic, "partition": self.partition,
                "lag": self.lag, "committed": self.committed, "seconds": round(self.seconds, 1)}


@dataclass
class _Track:
    committed: int
    progress_at: float
    stalled: bool = False


@dataclass
class StallDetector:
    """Pure bookkeeping: feed it what the broker said at time `now`; it says which partitions just stalled and
    which recovered. Progress = the committed offset moved, or there is nothing left to commit."""

    stall_after: float
    _tracks: dict[tuple[str, str, TP], _Track] = field(default_factory=dict)
    _stalls: dict[tuple[str, str, TP], Stall] = field(default_factory=dict)

    def observe(self, now: float, stage: str, group: str,
                offsets: dict[TP, PartitionOffsets]) -> tuple[list[Stall], list[Stall]]:
        """(newly stalled, recovered) after this observation of one consumer's owned partitions."""
        new: list[Stall] = []
        recovered: list[Stall] = []
        seen = set()
        for tp, off in offsets.items():
            key = (stage, group, tp)
            seen.add(key)
            track = self._tracks.get(key)
            if track is None:
                self._tracks[key] = _Track(off.committed, now)
                continue
            if off.committed != track.committed or off.lag == 0:
                track.committed, track.progress_at = off.committed, now
                if track.stalled:
                    track.stalled = False
                    recovered.append(self._stalls.pop(key))
                continue
            idle = now - track.progress_at
            if idle >= self.stall_after:
                stall = Stall(stage, group, tp[0], tp[1], off.lag, off.committed, idle)
                self._stalls[key] = stall
                if not track.stalled:
                    track.stalled = True
                    new.append(stall)
        for key in [k for k in self._tracks if k[0] == stage and k[1] == group and k not in seen]:
            self._tracks.pop(key)  # no longer ours (revoked): another member answers for it now
            if (gone := self._stalls.pop(key, None)) is not None:
                recovered.append(gone)
        return new, recovered

    def stalled(self) -> list[Stall]:
        return sorted(self._stalls.values(), key=lambda s: (s.stage, s.topic, s.partition))

    def resume(self, now: float) -> None:
        """The monitor could not read the broker until `now` (an outage): that time is not a stage's lack of
        progress, so every partition not already stalled gets a whole window from `now` to move again. Without
        this, any outage longer than the window named every stage with lag as stalled the moment the broker was
        back, seconds before their consumers had reconnected."""
        for track in self._tracks.values():
            if not track.stalled:
                track.progress_at = max(track.progress_at, now)


class LagMonitor:
    """Probes every watched consumer each `interval` seconds; exports lag, logs and counts stalls."""

    def __init__(self, bootstrap: str, *, stall_after: float = 120.0, interval: float = 5.0,
                 probe: OffsetProbe | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.bootstrap = bootstrap
        self.interval = interval
        self.detector = StallDetector(stall_after)
        self._probe = probe
        self._clock = clock
        self._watched: list[Watched] = []
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lag-probe")
        self._failing_since: float | None = None
        self._last_error = ""

    def watch(self, watched: Watched) -> None:
        self._watched.append(watched)

    def _read(self, owned: list[tuple[Watched, list[TP]]]) -> list[tuple[Watched, dict[TP, PartitionOffsets]]]:
        """Runs on the monitor's own thread: the only place its librdkafka clients are used."""
        if self._probe is None:
            self._probe = OffsetProbe(self.bootstrap)
        probe = self._probe
        out = []
        for watched, tps in owned:
            parts = [TopicPartition(t, p) for t, p in tps]
            out.append((watched, probe.group_offsets(watched.group, parts) if parts else {}))
        return out

    async def probe_once(self) -> list[Stall]:
        """One round: read offsets, update gauges, log what stalled or recovered; returns the new stalls."""
        owned = [(w, sorted(set(w.assignment()))) for w in self._watched]  # faust state: read on the loop
        loop = asyncio.get_running_loop()
        results = await loop.run_in_executor(self._executor, self._read, owned)
        now = self._clock()
        if self._failing_since is not None:  # the first round that sees the broker again
            self.detector.resume(now)
        fresh: list[Stall] = []
        for watched, offsets in results:
            per_topic: dict[str, int] = {}
            for (topic, _), off in offsets.items():
                per_topic[topic] = per_topic.get(topic, 0) + off.lag
            for topic, value in per_topic.items():
                CONSUMER_LAG.labels(watched.group, topic).set(value)
            new, recovered = self.detector.observe(now, watched.stage, watched.group, offsets)
            for stall in new:
                CONSUMER_STALLS.labels(stall.group, stall.topic).inc()
                log.error("STALLED: stage %s, %s[%d]: %d records behind, committed offset %d unchanged for %.0f s",
                          stall.stage, stall.topic, stall.partition, stall.lag, stall.committed, stall.seconds)
            if new and (detail := _describe(watched)):
                log.error("stage %s (group %s) as it sees itself now:\n%s", watched.stage, watched.group, detail)
            for stall in recovered:
                log.warning("stage %s, %s[%d] is moving again (or no longer assigned here)", stall.stage,
                            stall.topic, stall.partition)
            fresh.extend(new)
            CONSUMER_STALLED.labels(watched.group).set(
                sum(1 for s in self.detector.stalled() if s.group == watched.group and s.stage == watched.stage))
        return fresh

    async def run_forever(self) -> None:
        while True:
            await self.probe_round()
            await asyncio.sleep(self.interval)

    async def probe_round(self) -> None:
        """One round as `run_forever` runs it: a failed probe (the broker away) is said once, not raised."""
        try:
            await self.probe_once()
            if self._failing_since is not None:
                log.warning("consumer lag probe works again (it failed for %.0f s)",
                            self._clock() - self._failing_since)
                self._failing_since, self._last_error = None, ""
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the broker being away is not the worker's problem to crash on
            text = f"{type(exc).__name__}: {exc}"
            if self._failing_since is None:
                self._failing_since = self._clock()
                log.warning("consumer lag probe failed: %s (said once; a line follows when it recovers)", text)
            elif text != self._last_error:
                log.debug("consumer lag probe still failing: %s", text)
            self._last_error = text

    def health(self) -> dict[str, Any]:
        """What /healthz shows; `ok` is False while any owned partition is stalled."""
        stalled = [s.as_dict() for s in self.detector.stalled()]
        body: dict[str, Any] = {"ok": not stalled, "stalled": stalled}
        if self._failing_since is not None:
            body["lag_probe_failing_seconds"] = round(self._clock() - self._failing_since, 1)
        return body

    def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            self._executor.submit(probe.close)
        self._executor.shutdown(wait=True, cancel_futures=False)


def _describe(watched: Watched) -> str:
    if watched.describe is None:
        return ""
    try:
        state = watched.describe()
        return "\n".join(f"  {k}: {v}" for k, v in state.items())
    except Exception as exc:  # a diagnostic must never take the monitor down
        return f"<describe failed: {type(exc).__name__}: {exc}>"


def group_lag(bootstrap: str, group: str, topics: list[str], timeout: float = 10.0) -> dict[str, int]:
    """{topic: records not yet committed by `group`} with a short-lived probe (CLI and tests)."""
    probe = OffsetProbe(bootstrap, timeout)
    try:
        return probe.group_lag(group, topics)
    finally:
        probe.close()
