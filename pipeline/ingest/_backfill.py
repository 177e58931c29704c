"""`pipeline backfill --since DATE`: the log pollers of an ingest process, run once over an explicit range."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from pipeline.ingest._process import Ingest
from pipeline.sources._clock import Clock
from pipeline.sources.config import LOG_STREAMS, IngestConfig
from pipeline.sources.directory import DirectoryPoller
from pipeline.sources.logs import LOG_KINDS, LogPoller


@dataclass(frozen=True, slots=True)
class BackfillStep:
    corp: str
    stream: str
    days: int


class Backfill:
    """`pipeline backfill --since DATE`: re-query since..today for every log stream, producing only records
    not already in the topics (the seen-set is rebuilt from each topic's earliest offset for those dates)."""

    def __init__(self, config: IngestConfig, since: date, *, streams: list[str] | None = None,
                 clock: Clock | None = None) -> None:
        self.ingest = Ingest(config, clock=clock)
        self.since = since
        self.streams = [s for s in (streams or list(LOG_STREAMS)) if s in LOG_STREAMS]

    async def plan(self) -> list[BackfillStep]:
        if self.ingest.rt is None:
            await self.ingest.open()
        assert self.ingest.rt is not None
        steps: list[BackfillStep] = []
        for name, corp in self.ingest.corps.items():
            today = corp.runtime.calendar.date_of(self.ingest.rt.clock.now())
            days = (today - self.since).days + 1
            if days <= 0:
                continue
            steps.extend(BackfillStep(name, s, days) for s in self.streams if s in corp.pollers)
        return steps

    async def run(self, progress: Callable[[int], None] | None = None) -> dict[str, int]:
        """Records produced per "corp/stream"; `progress` is called with days done."""
        steps = await self.plan()
        produced: dict[str, int] = {}
        for step in steps:
            corp = self.ingest.corps[step.corp]
            directory = corp.pollers.get("directory")
            if LOG_KINDS[step.stream].per_user and isinstance(directory, DirectoryPoller):  # reads the user list
                if not corp.runtime.directory.ready.is_set():
                    await directory.prepare()
                if not corp.runtime.directory.ready.is_set():
                    await directory.poll_once()
            poller = corp.pollers[step.stream]
            assert isinstance(poller, LogPoller)
            poller.progress = progress
            await poller.prepare(self.since)
            produced[f"{step.corp}/{step.stream}"] = await poller.run_window(self.since)
        return produced

    async def close(self) -> None:
        await self.ingest.close()

