"""Log pollers: log/mail (both directions), log/operation (all types), log/batchjob and log/login (per user).

The four differ only in how they query and what the key subject is, so they share one poller (a table of
`LogKind`s) instead of four near-identical modules.

A run:
1. queries every date after the cursor up to today (chunks of `span_days`; normally yesterday and today),
2. numbers identical records per date (`pipeline.records.with_occurrences`) and computes each record's id
   with `with_ids` (= `raw_id`: the same id the simulator's ground truth and every downstream stage use),
3. produces the records whose id is not in the seen-set and adds each to it on its delivery report,
4. once every record of a chunk is delivered, closes the chunk's dates whose lag has passed (by the time the
   run started) and saves the cursor.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from itertools import islice
from typing import Any, TypeVar

from pipeline import metrics, streams
from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.exmail import App, ExmailClient, NotFound
from pipeline.exmail.models import ExmailRecord, as_int
from pipeline.records import RAW_SCHEMAS, with_ids
from pipeline.sources._emit import Outgoing
from pipeline.sources._runtime import CorpRuntime, Poller, RunFailed, Runtime
from pipeline.sources._window import each_date, query_range, split_span
from pipeline.sources.cursor import StreamCursor, rebuild_seen
from pipeline.sources.dedup import SeenSet, digest_of
from pipeline.streams import LogQuery, Stream

log = logging.getLogger(__name__)

T = TypeVar("T")
DELIVERY_BATCH = 5000  # records in flight per delivery round: bounds memory and the live objects the GC walks

Fetch = Callable[[ExmailClient, date, date], Awaitable[list[Any]]]


def _batches(items: Iterator[T], size: int) -> Iterator[list[T]]:
    while batch := list(islice(items, size)):
        yield batch


@dataclass(frozen=True, slots=True)
class LogKind:
    kind: str
    fetch: Fetch
    context: Callable[[date, str | None], dict[str, Any]]
    subject: Callable[[Mapping[str, Any]], str]
    per_user: bool = False


def _fetcher(query: LogQuery) -> Fetch:
    """`ExmailClient.<query.method>(begin, end, **query.params)`; a per-user kind's poller calls it per user."""
    params = dict(query.params)

    async def fetch(c: ExmailClient, a: date, b: date) -> list[Any]:
        if query.per_user:
            return await getattr(c, query.method)("", a, b)
        return await getattr(c, query.method)(a, b, **params)

    return fetch


def log_kind(stream: Stream) -> LogKind:
    """The poller's view of a catalog log kind."""
    query = stream.log
    if query is None:
        raise ValueError(f"{stream.kind} is not a log kind")
    return LogKind(stream.kind, _fetcher(query), lambda d, u: query.context_for(d.isoformat(), u), query.subject,
                   per_user=query.per_user)


LOG_KINDS: dict[str, LogKind] = {s.kind: log_kind(s) for s in streams.log_kinds()}


GROUP_OPERATIONS = frozenset({32, 34})  # operation types add / edit mail group: the operand is the groupid


def note_group_operations(corp: CorpRuntime, record: Mapping[str, Any]) -> None:
    """Tell the directory poller about mail groups the operation log names (the API cannot list groups)."""
    try:
        op_type = as_int(record.get("type", -1))
    except ValueError:
        return
    operand = record.get("operand")
    if op_type in GROUP_OPERATIONS and isinstance(operand, str) and "@" in operand:
        corp.group_hints.add(operand.strip().lower())


def raw_records(record: Any) -> dict[str, Any]:
    """The record exactly as the API returned it."""
    if isinstance(record, ExmailRecord):
        return record.raw
    return dict(record)


def _day_of(calendar_date_of: Callable[[float], date], record: Mapping[str, Any], first: date, last: date) -> date:
    try:
        day = calendar_date_of(float(as_int(record.get("time"))))
    except (ValueError, OverflowError, OSError):
        return last
    return min(max(day, first), last)


class LogPoller(Poller):
    """One corp's poller of one log kind; see the module docstring."""

    def __init__(self, rt: Runtime, corp: CorpRuntime, kind: str, interval: float | None = None) -> None:
        super().__init__(rt, corp, interval if interval is not None else rt.poll.intervals.of(kind))
        self.kind = LOG_KINDS[kind]
        self.stream = kind
        self.topic = rt.names.raw(kind)
        self.stream_id = f"{corp.corp_id}/{kind}"
        self.cursor = StreamCursor(stream=self.stream_id)
        self.seen = SeenSet()
        self.source = f"exmail-ingest/{kind}"
        self.progress: Callable[[int], None] | None = None

    # ------------------------------------------------------------ state

    def _range(self, now: float, since: date | None = None) -> tuple[date, date] | None:
        today = self.corp.calendar.date_of(now)
        if since is not None:
            return (since, today) if since <= today else None
        return query_range(self.cursor.closed_through, today, self.rt.poll.backfill_days)

    async def prepare(self, since: date | None = None) -> None:
        """Load the cursor and rebuild the seen-set of every date the next run will query.

        With `since` (an explicit backfill) the scan starts at the topic's earliest offset, because dates
        before the cursor have no marks."""
        self.cursor = self.rt.cursors.get(self.stream_id)
        rng = self._range(self.rt.clock.now(), since)
        if rng is None:
            self.seen = SeenSet()
            return
        start = None if since is not None else self.cursor.scan_start()
        self.seen, scan = await rebuild_seen(self.rt.reader, self.topic, self.corp_id, rng[0], start)
        self.cursor.mark_missing(each_date(*rng), scan.start)
        self._gauge()
        log.info("%s: seen-set rebuilt from %s (%d records scanned, %d ids for %s..%s)", self.stream_id,
                 self.topic, scan.records, len(self.seen), rng[0], rng[1])

    def _gauge(self) -> None:
        metrics.DEDUP_STATE_ENTRIES.labels(self.corp_id, self.stream).set(len(self.seen))

    def gap_risk(self) -> bool:
        if self.window is None:
            return False
        return self.corp.calendar.closable(self.window[0], self.rt.clock.now(), self.rt.poll.lag_seconds)

    # ------------------------------------------------------------ fetching

    async def fetch(self, first: date, last: date) -> list[tuple[str | None, list[Any]]]:
        """(userid or None, records) groups for first..last."""
        return [(None, await self.kind.fetch(self.corp.client, first, last))]

    def build(self, first: date, last: date, groups: list[tuple[str | None, list[Any]]]) -> list[tuple[date, Outgoing]]:
        """Envelopes (with their date) of every record not yet seen."""
        return list(self.iter_new(first, last, groups))

    def iter_new(
        self, first: date, last: date, groups: list[tuple[str | None, list[Any]]]
    ) -> Iterator[tuple[date, Outgoing]]:
        """Lazily: envelopes (with their date) of every record not in the seen-set."""
        date_of = self.corp.calendar.date_of
        kind = self.kind.kind
        corp_id = self.corp_id
        schema = RAW_SCHEMAS[kind]
        observed = utc_iso()
        hits = 0
        for userid, records in groups:
            by_day: dict[date, list[dict[str, Any]]] = {}
            for rec in records:
                raw = raw_records(rec)
                if kind == "operation_log":
                    note_group_operations(self.corp, raw)
                by_day.setdefault(_day_of(date_of, raw, first, last), []).append(raw)
            for day, day_records in by_day.items():
                context = self.kind.context(day, userid)
                for rid, record in with_ids(corp_id, kind, day_records, context):
                    if digest_of(rid) in self.seen:
                        hits += 1
                        continue
                    subject = userid if userid is not None else self.kind.subject(record)
                    if kind in ("mail_log", "login_log"):
                        self._note_activity(subject, record)
                    env = Envelope(
                        schema=schema, id=rid, corp_id=corp_id, source=self.source,
                        occurred_at=utc_iso(float(as_int(record["time"]))), observed_at=observed,
                        data={"record": dict(record), "context": context},
                    )
                    yield day, Outgoing(self.topic, record_key(corp_id, subject), env)
        if hits:
            metrics.DEDUP_HITS.labels(corp_id, self.stream).inc(hits)

    # ------------------------------------------------------------ the run

    async def poll_once(self) -> None:
        await self.run_window()

    async def run_window(self, since: date | None = None) -> int:
        """One run over every open date (or since..today); returns the number of records produced."""
        now = self.rt.clock.now()
        rng = self._range(now, since)
        if rng is None:
            return 0
        first, today = rng
        dates = [d for d in each_date(first, today) if d not in self.cursor.marks]
        if dates and any(self.cursor.closed_through is None or d > self.cursor.closed_through for d in dates):
            offsets = await self.rt.reader.end_offsets(self.topic)
            self.cursor.mark_missing(dates, offsets)
        produced = 0
        for chunk_first, chunk_last in split_span(first, today, self.rt.poll.span_days):
            self.window = (chunk_first, chunk_last)
            groups = await self.fetch(chunk_first, chunk_last)
            for batch in _batches(self.iter_new(chunk_first, chunk_last, groups), DELIVERY_BATCH):
                produced += await self.deliver_into(self.seen, batch)
            self._raise_pending()
            closing = self._closing_now(now)
            closed = None if closing is None else self.corp.calendar.last_closable(
                chunk_first, chunk_last, closing, self.rt.poll.lag_seconds)
            if closed is not None:
                self.cursor.close_through(closed)
                self.seen.drop_through(closed)
                self._gauge()
            if chunk_last == today:
                self.cursor.backfill_done = True
            await self.rt.cursors.save(self.cursor)
            if self.progress is not None:
                self.progress((chunk_last - chunk_first).days + 1)
            if self.stopping is not None and self.stopping.is_set():
                break
        self.window = None
        return produced

    def _raise_pending(self) -> None:
        """Hook for per-user pollers: raise a fetch failure only after the fetched records were delivered."""

    def _closing_now(self, now: float) -> float | None:
        """The moment every record up to which this run has read (dates close by it); None = close nothing."""
        return now

    def _note_activity(self, userid: str, record: Mapping[str, Any]) -> None:
        """Remember when a user last mailed or logged in: the login poller reads active users first."""
        try:
            t = float(as_int(record.get("time")))
        except (ValueError, OverflowError):
            return
        key = userid.lower()
        if t > self.corp.activity.get(key, float("-inf")):
            self.corp.activity[key] = t


@dataclass
class LoginPlan:
    """Which users one log/login run reads (see `LoginPollSettings`): the rotation, the active users, the fill."""

    users: list[str]
    rotation_end: int  # position in the rotation after this run
    completes: bool  # this run reads the rotation's last users
    active: int  # users read for being active (outside the rotation slice)


class LoginLogPoller(LogPoller):
    """log/login per user of the current directory, planned for large tenants (bounded by a per-run budget,
    active users first, paced over the interval) with dates closed only after a full rotation."""

    def __init__(self, rt: Runtime, corp: CorpRuntime, interval: float | None = None) -> None:
        super().__init__(rt, corp, "login_log", interval)
        self._pending: BaseException | None = None
        self.user_progress: Callable[[int], None] | None = None
        self._rotation: list[str] = []
        self._position = 0
        self._rotation_started: float | None = None
        self._swept_since: float | None = None  # start of the last complete rotation
        self._last_read: dict[str, float] = {}
        self._plan: LoginPlan | None = None
        self._full_run = False
        self._fetched = False
        self.last_plan: LoginPlan | None = None

    def budget(self) -> int:
        cfg = self.rt.poll.login
        if cfg.budget_calls is not None:
            return cfg.budget_calls
        rate = self.corp.client.settings.rate_limit_for(App.SYSTEM_LOG).rate
        return max(1, int(cfg.budget_share * rate * self.interval))

    def plan(self, now: float) -> LoginPlan:
        """The users of the next run (does not move the rotation: `_commit` does, after a successful run)."""
        users = self.corp.directory.userids()
        present = set(users)
        if self._position >= len(self._rotation):
            self._rotation, self._position, self._rotation_started = list(users), 0, now
        else:
            known = set(self._rotation)
            self._rotation.extend(u for u in users if u not in known)  # new users join this rotation
        budget = self.budget()
        minimum = max(1, math.ceil(len(users) * self.interval / self.rt.poll.login.sweep_seconds))
        chosen: list[str] = []
        pos = self._position

        skip: set[str] = set()

        def take(limit: int) -> None:
            nonlocal pos
            while pos < len(self._rotation) and len(chosen) < limit:
                userid = self._rotation[pos]
                if userid in present and userid not in skip:
                    chosen.append(userid)
                pos += 1

        take(min(minimum, budget))
        picked = set(chosen)
        activity, last_read = self.corp.activity, self._last_read
        due = [u for u in users if u not in picked and activity.get(u, float("-inf")) > last_read.get(u, float("-inf"))]
        due.sort(key=lambda u: -activity[u])
        active = due[: max(0, budget - len(chosen))]
        skip.update(active)  # read for being active: the rotation does not read them twice in this run
        take(budget - len(active))
        while pos < len(self._rotation) and self._rotation[pos] not in present:
            pos += 1
        return LoginPlan(chosen + active, pos, pos >= len(self._rotation), len(active))

    def _closing_now(self, now: float) -> float | None:
        plan = self._plan
        if self._full_run:
            return now
        if plan is not None and plan.completes:
            return self._rotation_started
        return self._swept_since

    async def run_window(self, since: date | None = None) -> int:
        """One run over the planned users; an explicit backfill (`since`) reads every user, budget or not."""
        now = self.rt.clock.now()
        await self.corp.directory.ready.wait()
        self._full_run = since is not None
        if self._full_run:
            self._plan = LoginPlan(self.corp.directory.userids(), self._position, False, 0)
        else:
            self._plan = self.plan(now)
        self._fetched = False
        try:
            produced = await super().run_window(since)
        finally:
            plan, self._plan, self._full_run = self._plan, None, False
        if not self._fetched:  # no date to query: nobody was read, the rotation stays where it was
            return produced
        for userid in plan.users:
            self._last_read[userid] = now
        self._position = plan.rotation_end
        if plan.completes:
            self._swept_since = self._rotation_started
        self.last_plan = plan
        return produced

    async def fetch(self, first: date, last: date) -> list[tuple[str | None, list[Any]]]:
        await self.corp.directory.ready.wait()
        plan = self._plan if self._plan is not None else self.plan(self.rt.clock.now())
        users = plan.users
        self._fetched = True
        cfg = self.rt.poll.login
        # a full budget's calls spread over spread_fraction of the interval; smaller runs end sooner
        gap = cfg.spread_fraction * self.interval / self.budget() if len(users) > cfg.burst_calls else 0.0
        started = time.monotonic()
        limit = asyncio.Semaphore(max(1, self.corp.client.settings.per_user_concurrency) * 2)
        groups: list[tuple[str | None, list[Any]]] = []
        self._pending = None

        async def one(index: int, userid: str) -> None:
            if gap:
                await asyncio.sleep(max(0.0, started + index * gap - time.monotonic()))
            async with limit:
                try:
                    records = await self.corp.client.log_login(userid, first, last)
                except NotFound:
                    log.info("%s: user %s vanished before its login log was read", self.stream_id, userid)
                    records = []
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if self._pending is None:
                        self._pending = exc
                    return
                finally:
                    if self.user_progress is not None:
                        self.user_progress(1)
                groups.append((userid.lower(), records))

        await asyncio.gather(*(one(i, u) for i, u in enumerate(users)))
        return groups

    def _raise_pending(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            raise RunFailed(f"log/login failed for some users: {pending}") from pending


def make_log_poller(rt: Runtime, corp: CorpRuntime, kind: str) -> LogPoller:
    if kind == "login_log":
        return LoginLogPoller(rt, corp)
    return LogPoller(rt, corp, kind)
