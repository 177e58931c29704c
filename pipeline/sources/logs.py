"""Log pollers: log/mail (both directions), log/operation (all types), log/batchjob and log/login (per user).

The four differ only in how they query and what the key subject is, so they share one poller (a table of
`LogKind`s) instead of four near-identical modules.

A run:
1. queries every date after the cursor up to today (chunks of `span_days`; normally yesterday and today),
2. numbers identical records per date (`pipeline.records.with_occurrences`) and computes each record's id
   with `with_ids` (= `raw_id`: the same id the simulator's ground truth and every downstream stage use),
3. produces the records whose id is not in the seen-set and adds each to it on its delivery report,
   (the hot path works on bytes: the client hands over the validated JSON objects of the answer, ids stay 16
   raw bytes until the envelope is written, and each envelope is written straight to bytes),
4. once every record of a chunk is delivered, closes the chunk's dates whose lag has passed (by the time the
   run started) and saves the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from binascii import hexlify
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from pipeline import metrics, streams
from pipeline.envelope import EnvelopeBytes, UtcSeconds, utc_iso
from pipeline.exmail import App, ExmailClient, NotFound, each_date, split_span
from pipeline.exmail.models import ExmailRecord, as_int
from pipeline.records import RAW_SCHEMAS, digests_of
from pipeline.sources._emit import error_reason
from pipeline.sources._runtime import CorpRuntime, Poller, RunFailed, Runtime
from pipeline.sources._window import query_range
from pipeline.sources.cursor import StreamCursor, rebuild_seen
from pipeline.sources.dedup import SeenSet
from pipeline.streams import LogQuery, Stream

log = logging.getLogger(__name__)

DELIVERY_BATCH = 20000  # records per delivery round (~10 MB of envelopes): bounds memory; each round ends
# with one drain of the producer, so larger rounds wait less often for the broker's acks

Fetch = Callable[[ExmailClient, date, date], Awaitable[list[Any]]]


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


@dataclass(slots=True, eq=False)
class NewRecords:
    """Records of a run that are not in the seen-set yet, ready to produce: parallel lists of bytes (no
    object per record for the GC to walk), and the date the digests from each start index on go under."""

    runs: list[tuple[date, int]] = field(default_factory=list)  # (date, first index), in index order
    digests: list[bytes] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    values: list[bytes] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.values)

    def by_day(self) -> Iterator[tuple[date, slice]]:
        """(date, index range) of each run of records of one date."""
        bounds = [start for _, start in self.runs] + [len(self.values)]
        for (day, start), end in zip(self.runs, bounds[1:], strict=True):
            if end > start:
                yield day, slice(start, end)


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

    def build(self, first: date, last: date, groups: list[tuple[str | None, list[Any]]]) -> NewRecords:
        """Envelopes (with their date) of every record not yet seen."""
        return next(self.iter_new(first, last, groups, size=None), NewRecords())

    def _days(self, first: date, last: date) -> Callable[[Any], date]:
        """time -> the record's date in the corp's calendar, clamped to first..last (unreadable times: last).
        One datetime per local day: the corp's UTC offset is fixed, so a day number names its date."""
        offset = self.corp.calendar.offset_minutes * 60
        date_of = self.corp.calendar.date_of
        cache: dict[int, date] = {}

        def day_of(t: Any) -> date:
            if type(t) is int:
                day = cache.get((t + offset) // 86400)
                if day is not None:
                    return day
            try:
                seconds = as_int(t)
                day = min(max(date_of(float(seconds)), first), last)
            except (ValueError, OverflowError, OSError):
                return last
            cache[(seconds + offset) // 86400] = day
            return day

        return day_of

    def iter_new(
        self, first: date, last: date, groups: list[tuple[str | None, list[Any]]], size: int | None = DELIVERY_BATCH,
    ) -> Iterator[NewRecords]:
        """Lazily, in rounds of `size` records: the envelopes of every record not in the seen-set.

        Per record: the 16-byte digest of its id, a seen-set lookup, and for a new one its key and its
        envelope written as bytes (`EnvelopeBytes`, byte for byte what `Envelope.encode` gives)."""
        kind = self.kind.kind
        corp_id = self.corp_id
        observed = utc_iso()
        occurred_of = UtcSeconds()
        day_of = self._days(first, last)
        seen = self.seen
        subject_of = self.kind.subject
        note_activity = kind in ("mail_log", "login_log")
        key_head = f"{corp_id}/"
        dumps = orjson.dumps
        hits = 0
        batch = NewRecords()
        # a run's own records never share an id (identical ones get distinct occurrences, other dates another
        # context), so only what the seen-set held when this chunk started can be a hit: nothing, on a first run
        look_up = len(seen) > 0
        for userid, records in groups:
            by_day: dict[date, list[dict[str, Any]]] = {}
            for rec in records:
                raw = rec if type(rec) is dict else raw_records(rec)
                if kind == "operation_log":
                    note_group_operations(self.corp, raw)
                day = day_of(raw.get("time"))
                day_records = by_day.get(day)
                if day_records is None:
                    by_day[day] = [raw]
                else:
                    day_records.append(raw)
            for day, day_records in by_day.items():
                context = self.kind.context(day, userid)
                writer = EnvelopeBytes(RAW_SCHEMAS[kind], corp_id, self.source, observed, b'{"record":',
                                       b',"context":' + dumps(context) + b"}")
                encode = writer.encode
                latest: dict[str, int] = {}
                batch.runs.append((day, len(batch)))
                add_digest, add_key, add_value = batch.digests.append, batch.keys.append, batch.values.append
                digests = digests_of(corp_id, kind, day_records, context)
                for digest, record in zip(digests, day_records, strict=True):
                    if look_up and digest in seen:
                        hits += 1
                        continue
                    subject = userid if userid is not None else subject_of(record)
                    t = record["time"]
                    if type(t) is not int:
                        t = as_int(t)
                    if note_activity and t > latest.get(subject, -1 << 63):
                        latest[subject] = t
                    add_digest(digest)
                    add_key((key_head + subject).encode())
                    add_value(encode(hexlify(digest), occurred_of(t), dumps(record)))
                    if size is not None and len(batch.values) >= size:
                        yield batch
                        batch = NewRecords()
                        batch.runs.append((day, 0))
                        add_digest, add_key, add_value = batch.digests.append, batch.keys.append, batch.values.append
                self._note_activity(latest)
        if batch.values:
            yield batch
        if hits:
            metrics.DEDUP_HITS.labels(corp_id, self.stream).inc(hits)

    async def _deliver_rounds(self, rounds: Iterator[NewRecords]) -> int:
        """Deliver round after round, building the next round while the broker acknowledges the last one (the
        producer drains in a worker thread). A round is produced only after the one before it was delivered in
        full, so a failed round stops the chunk before anything after it is sent."""
        produced = 0
        pending: asyncio.Task[int] | None = None
        try:
            for batch in rounds:
                if pending is not None:
                    produced += await pending
                pending = asyncio.create_task(self.deliver_new(batch))
                await asyncio.sleep(0)  # let it enqueue its records before the next round is built
        except Exception:
            # building the next round failed: the round in flight still records what it delivered
            if pending is not None:
                with contextlib.suppress(Exception):
                    await pending
            raise
        except BaseException:
            if pending is not None:
                pending.cancel()
            raise
        if pending is not None:
            produced += await pending
        return produced

    async def deliver_new(self, batch: NewRecords) -> int:
        """Produce one round; add each delivered digest to the seen-set under its date; raise RunFailed if any
        record was not delivered (the delivered ones stay in the seen-set, so a retry sends only the rest)."""
        results = await self.rt.emitter.deliver_values(self.topic, batch.keys, batch.values, corp=self.corp_id,
                                                       stream=self.stream)
        seen = self.seen
        missing = len(results) - results.count(None)
        failed = next((r for r in results if r is not None), None) if missing else None
        for day, where in batch.by_day():
            delivered = batch.digests[where]
            if failed is not None:
                delivered = [d for d, r in zip(delivered, results[where], strict=True) if r is None]
            seen.insert_new(day, delivered)
        self._gauge()
        if failed is not None:
            raise RunFailed(f"{missing} of {len(batch)} records not delivered: {failed}") from failed
        return len(batch)

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
            try:
                produced += await self._deliver_rounds(self.iter_new(chunk_first, chunk_last, groups, DELIVERY_BATCH))
            finally:
                self.seen.settle()
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

    def _note_activity(self, latest: Mapping[str, int]) -> None:
        """Remember when each user last mailed or logged in (`latest`: subject -> newest record time of one
        answer): the login poller reads active users first."""
        activity = self.corp.activity
        for userid, t in latest.items():
            key = userid.lower()
            if t > activity.get(key, float("-inf")):
                activity[key] = t


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
        self._failures: dict[str, tuple[int, BaseException]] = {}  # reason -> (users, the first such error)
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
        self._failures = {}

        async def one(index: int, userid: str) -> None:
            if gap:
                await asyncio.sleep(max(0.0, started + index * gap - time.monotonic()))
            async with limit:
                try:
                    records = await self.corp.client.log_login_rows(userid, first, last)
                except NotFound:
                    log.info("%s: user %s vanished before its login log was read", self.stream_id, userid)
                    records = []
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    reason = error_reason(exc)
                    count, first_error = self._failures.get(reason, (0, exc))
                    self._failures[reason] = (count + 1, first_error)
                    return
                finally:
                    if self.user_progress is not None:
                        self.user_progress(1)
                groups.append((userid.lower(), records))

        await asyncio.gather(*(one(i, u) for i, u in enumerate(users)))
        return groups

    def _raise_pending(self) -> None:
        """One RunFailed for the users whose fetch failed, carrying the most common failure (a rate limit that
        outlasted the retries is told as such, not as whichever user's error came first) and counting the rest."""
        failures, self._failures = self._failures, {}
        if not failures:
            return
        ranked = sorted(failures.items(), key=lambda item: -item[1][0])  # stable: ties keep the first seen
        _, (count, error) = ranked[0]
        users = sum(n for n, _ in failures.values())
        others = "; ".join(f"{reason} for {n}" for reason, (n, _) in ranked[1:])
        raise RunFailed(f"log/login failed for {users} user(s), {count} of them: {error}"
                        + (f" (also {others})" if others else "")) from error


def make_log_poller(rt: Runtime, corp: CorpRuntime, kind: str) -> LogPoller:
    if kind == "login_log":
        return LoginLogPoller(rt, corp)
    return LogPoller(rt, corp, kind)
