"""Pushed records (callback, HR) into Kafka: one bounded decision per request, and each record id once.

A pusher waits on our answer and retries when it gets none, so three things must hold:

- The answer comes within `answer_timeout_seconds`, well under the sender's own timeout. The intake has its own
  producer whose `message.timeout.ms` is that bound minus a second (librdkafka scans for expired records about
  once a second), so a delivery report, good or bad, always arrives in time.
- The answer follows the delivery report, and nothing is handed to the producer once the request is gone: a
  record is produced only while its request is still open, and the reply is 200 only on its report. A record
  that expired in the producer's queue was never sent (the broker was unreachable), so a 503 means "not stored".
- A retried push (Exmail changes timestamp, nonce and signature on every retry) is produced once: ids delivered
  in the last `dedup_window_seconds` are remembered, packed as in `pipeline.sources.dedup`, and rebuilt at start
  from the topic itself (records written in the window), so a restart between a push and its retry changes
  nothing. Concurrent copies of one id share one produce.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal

import orjson
from aiohttp import web

from pipeline.kafka import EventProducer
from pipeline.kafka.reader import offsets_after, scan
from pipeline.kafka.settings import KafkaSettings
from pipeline.sources._emit import Emitter, Outgoing
from pipeline.sources.dedup import DigestSet, digest_of

log = logging.getLogger(__name__)

# What a 503 tells the pusher: try again after this many seconds (the broker is usually back by then).
RETRY_AFTER_SECONDS = 10
Decision = Literal["delivered", "duplicate", "failed", "abandoned"]
# librdkafka expires queued records on a ~1 s timer: the report can come up to this long after message.timeout.ms.
_EXPIRY_SCAN_S = 1.0


class _WindowedIds:
    """Record digests seen in the last `window` seconds, in one DigestSet per window-sized time slot; a lookup
    checks the slots still inside the window, a slot is dropped once wholly outside it."""

    def __init__(self, window: float, now: Callable[[], float]) -> None:
        self._window = window
        self._now = now
        self._slots: dict[int, DigestSet] = {}

    def __len__(self) -> int:
        return sum(len(s) for s in self._slots.values())

    def _slot(self, t: float) -> int:
        return int(t // self._window)

    def _prune(self) -> int:
        """Drop slots wholly outside the window; the oldest slot still kept."""
        oldest = self._slot(self._now()) - 1
        for slot in [s for s in self._slots if s < oldest]:
            del self._slots[slot]
        return oldest

    def __contains__(self, digest: object) -> bool:
        self._prune()
        return any(digest in s for s in self._slots.values())

    def add(self, digest: bytes, at: float | None = None) -> None:
        oldest = self._prune()
        slot = self._slot(self._now() if at is None else at)
        if slot >= oldest and not any(digest in s for s in self._slots.values()):
            self._slots.setdefault(slot, DigestSet()).insert(digest)


def request_open(request: web.Request) -> bool:
    """False once the sender has hung up (its answer could never arrive, so nothing may be produced for it)."""
    transport = request.transport
    return transport is not None and not transport.is_closing()


def intake_producer(kafka: KafkaSettings, answer_timeout_seconds: float) -> EventProducer:
    """The producer whose records expire (with a failed report) before a pusher's answer is due."""
    timeout_ms = max(500, int((answer_timeout_seconds - _EXPIRY_SCAN_S) * 1000))
    return EventProducer(kafka, **{"message.timeout.ms": timeout_ms,
                                   "linger.ms": min(kafka.linger_ms, timeout_ms // 4)})


class IntakeGate:
    """The seen-set and in-flight table shared by every push endpoint of one ingest process, over an Emitter whose
    producer is an `intake_producer`."""

    def __init__(self, emitter: Emitter, *, dedup_window_seconds: float,
                 now: Callable[[], float] = time.time) -> None:
        self._emitter = emitter
        self._seen = _WindowedIds(dedup_window_seconds, now)
        self._window = dedup_window_seconds
        self._now = now
        self._in_flight: dict[bytes, asyncio.Future[bool]] = {}

    def __repr__(self) -> str:
        return f"IntakeGate(remembered={len(self._seen)})"

    async def rebuild(self, bootstrap: str, topics: Sequence[str]) -> int:
        """Remember the ids written to `topics` during the last window (run once, before serving)."""
        since_ms = int((self._now() - self._window) * 1000)
        count = 0

        def on_record(_key: bytes | None, value: bytes | None) -> None:
            nonlocal count
            if value is None:
                return
            try:
                rid = orjson.loads(value).get("id")
                self._seen.add(digest_of(rid))
                count += 1
            except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
                return  # not an envelope with a 128-bit id: nothing a push could duplicate

        for topic in dict.fromkeys(topics):
            start = await asyncio.to_thread(offsets_after, bootstrap, topic, since_ms)
            await asyncio.to_thread(scan, bootstrap, topic, on_record, start)
        return count

    async def deliver(self, items: Sequence[Outgoing], *, corp: str, stream: str,
                      still_open: Callable[[], bool]) -> Decision:
        """Produce the records not yet stored, if the request is still open; one answer for all of them."""
        digests = [digest_of(i.envelope.id) for i in items]
        while True:  # another copy of this push is being produced right now: wait for its report first
            waiting = [self._in_flight[d] for d in dict.fromkeys(digests) if d in self._in_flight]
            if not waiting:
                break
            await asyncio.gather(*(asyncio.shield(f) for f in waiting))
        # from here to registering in _in_flight there is no await: no other copy can slip in between
        fresh = [(d, i) for d, i in zip(digests, items, strict=True) if d not in self._seen]
        fresh = list({d: (d, i) for d, i in fresh}.values())
        if not fresh:
            return "duplicate"
        if not still_open():
            return "abandoned"
        loop = asyncio.get_running_loop()
        mine = {d: loop.create_future() for d, _ in fresh}
        self._in_flight.update(mine)
        try:
            outcome = await self._emitter.deliver([i for _, i in fresh], corp=corp, stream=stream)
        except BaseException:
            for fut in mine.values():
                if not fut.done():
                    fut.set_result(False)
            raise
        finally:
            for d in mine:
                self._in_flight.pop(d, None)
        ok = True
        for (d, _), failure in zip(fresh, outcome, strict=True):
            if failure is None:
                self._seen.add(d)
            else:
                ok = False
                log.warning("%s %s: record not stored (%s); the sender is told to retry", corp, stream, failure)
            waiter = mine[d]
            if not waiter.done():
                waiter.set_result(failure is None)
        return "delivered" if ok else "failed"
