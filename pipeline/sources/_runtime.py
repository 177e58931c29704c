"""What every source of one ingest process shares, and the loop that runs a poller on its interval."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pipeline import metrics
from pipeline.backoff import full_jitter
from pipeline.exmail import ExmailClient
from pipeline.kafka import TopicNames
from pipeline.kafka.reader import TopicReader
from pipeline.kafka.state import StateTopic
from pipeline.sources._clock import Clock
from pipeline.sources._emit import Emitter, Outgoing
from pipeline.sources._window import CorpCalendar
from pipeline.sources.config import CorpConfig, PollSettings
from pipeline.sources.cursor import CursorStore
from pipeline.sources.dedup import SeenSet, digest_of

log = logging.getLogger(__name__)


@dataclass(eq=False)
class DirectoryView:
    """The current directory of one corp (users with department_paths, departments, groups), as the directory
    poller last saw it. The login and options pollers take their user list from here."""

    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    departments: dict[str, dict[str, Any]] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def userids(self) -> list[str]:
        return sorted(self.users)

    def domains(self) -> list[str]:
        return sorted({u.rsplit("@", 1)[1].lower() for u in self.users if "@" in u})


@dataclass(eq=False)
class Runtime:
    """Process-wide collaborators of the sources."""

    emitter: Emitter
    cursors: CursorStore
    state: StateTopic
    clock: Clock
    poll: PollSettings
    reader: TopicReader

    @property
    def names(self) -> TopicNames:
        return self.emitter.names


@dataclass(eq=False)
class CorpRuntime:
    """One corp: its config, API client, calendar and current directory."""

    config: CorpConfig
    client: ExmailClient
    calendar: CorpCalendar
    directory: DirectoryView = field(default_factory=DirectoryView)
    group_hints: set[str] = field(default_factory=set)
    activity: dict[str, float] = field(default_factory=dict)  # userid -> time of its latest mail/login record

    @property
    def corp_id(self) -> str:
        return self.config.corp_id

    def __repr__(self) -> str:
        return f"CorpRuntime({self.config.name!r})"


class RunFailed(RuntimeError):
    """Part of a run failed (API or delivery); what was delivered stays delivered, the cursor did not move."""


class Poller:
    """Base of every periodic source: `prepare()` once, then `poll_once()` every `interval` seconds.

    A failed run is published as a pipeline_error and retried after an exponential backoff (full jitter);
    the run's cursor is not moved, so the retry starts from the same place.
    """

    stream: str = ""

    def __init__(self, rt: Runtime, corp: CorpRuntime, interval: float) -> None:
        self.rt = rt
        self.corp = corp
        self.interval = interval
        self.window: tuple[date, date] | None = None
        self.failures = 0
        self.stopping: asyncio.Event | None = None
        self.last_success_started: float | None = None
        self._rng = random.Random()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.corp.config.name!r})"

    @property
    def corp_id(self) -> str:
        return self.corp.corp_id

    async def prepare(self) -> None:
        """Rebuild in-memory state from Kafka (called once before the first run)."""

    async def poll_once(self) -> None:
        raise NotImplementedError

    def gap_risk(self) -> bool:
        return False

    async def deliver_into(self, seen: SeenSet, items: Sequence[tuple[date, Outgoing]]) -> int:
        """Deliver; add each delivered id to `seen` under its date; raise RunFailed if any failed."""
        results = await self.rt.emitter.deliver([o for _, o in items], corp=self.corp_id, stream=self.stream)
        failed: BaseException | None = None
        for (day, item), failure in zip(items, results, strict=True):
            if failure is None:
                seen.add(day, digest_of(item.envelope.id))
            elif failed is None:
                failed = failure
        metrics.DEDUP_STATE_ENTRIES.labels(self.corp_id, self.stream).set(len(seen))
        if failed is not None:
            missing = sum(r is not None for r in results)
            raise RunFailed(f"{missing} of {len(items)} records not delivered: {failed}") from failed
        return len(items)

    def backoff(self) -> float:
        poll = self.rt.poll
        drawn = full_jitter(self.failures, poll.error_backoff_initial_seconds, poll.error_backoff_max_seconds,
                            self._rng.random)
        return max(poll.error_backoff_initial_seconds / 2, drawn)

    async def run_once(self) -> bool:
        """One run with error reporting; True on success."""
        started = time.monotonic()
        run_started = time.time()
        try:
            await self.poll_once()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failures += 1
            await self.rt.emitter.error(
                corp=self.corp_id, stream=self.stream, stage="poll", exc=exc, window=self.window,
                gap_risk=self.gap_risk(),
            )
            return False
        finally:
            metrics.POLL_LATENCY.labels(self.corp_id, self.stream).observe(time.monotonic() - started)
        self.failures = 0
        if self.last_success_started is None:
            metrics.POLL_LAG.labels(self.corp_id, self.stream).set_function(self._lag)
        self.last_success_started = run_started
        metrics.LAST_POLL_SUCCESS.labels(self.corp_id, self.stream).set(time.time())
        return True

    def _lag(self) -> float:
        """Seconds since the start of the last run that delivered its whole window."""
        return time.time() - self.last_success_started if self.last_success_started is not None else 0.0

    async def run(self, stop: asyncio.Event) -> None:
        """Run until `stop` is set; preparation failures are retried like run failures."""
        self.stopping = stop
        prepared = False
        while not stop.is_set():
            if not prepared:
                try:
                    await self.prepare()
                    prepared = True
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.failures += 1
                    await self.rt.emitter.error(corp=self.corp_id, stream=self.stream, stage="prepare", exc=exc)
            ok = prepared and await self.run_once()
            delay = self.interval if ok else self.backoff()
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
