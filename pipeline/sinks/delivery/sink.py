"""The shape every delivery sink shares: encode a notification into parts, then for each part wait on the
destination's bucket, send, and act on the error class (retry with backoff, refresh the token, or stop),
ending in one DeliveryOutcome. `deliver` never raises for anything the destination or the network does.

Resuming: `deliver(n, resume_at=k)` skips the first k parts (already accepted before a restart), `on_part` is
awaited after each accepted part (the worker records it durably there), and once `stop` is set the send ends as
"interrupted" at once if it is waiting (for the bucket or a retry backoff: nothing is in flight then, and no
token is taken) or right after the request under way, so a stopping worker never starts what it cannot finish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import httpx

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.dlq import Origin
from pipeline.envelope import Envelope, utc_iso
from pipeline.metrics import DELIVERIES, DELIVERY_FAILURES, DELIVERY_LATENCY, DELIVERY_RETRIES, TOKEN_BUCKET_WAIT
from pipeline.notification import Notification
from pipeline.secrets import scrub
from pipeline.sinks.delivery import _redact
from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass
from pipeline.sinks.delivery.http import HttpClient, HttpSettings, new_client
from pipeline.sinks.delivery.outcome import DeliveryOutcome, DeliveryStatus, dead_letter_for
from pipeline.sinks.delivery.retry import RetryPolicy

PartT = TypeVar("PartT")
# (parts accepted so far, parts in all, attempts so far) after each accepted part
OnPart = Callable[[int, int, int], Awaitable[None]]


class EncodeError(ValueError):
    """The notification cannot be turned into a message for this destination (permanent)."""


class Sink(Protocol):
    name: str

    @property
    def kind(self) -> str: ...

    @property
    def concurrency(self) -> int: ...

    async def deliver(self, notification: Notification, *, resume_at: int = 0, on_part: OnPart | None = None,
                      stop: asyncio.Event | None = None) -> DeliveryOutcome: ...

    async def aclose(self) -> None: ...

    def dead_letter(self, outcome: DeliveryOutcome, notification: Notification, *, origin: Origin | None = None,
                    source: bytes | None = None) -> Envelope: ...


@dataclass(slots=True)
class _Progress:
    attempts: int = 0
    parts_delivered: int = 0
    token_refreshes: int = 0
    invalid: list[str] = field(default_factory=list)
    last: AttemptResult | None = None


class DeliverySink(ABC, Generic[PartT]):
    """Base class: subclasses say how to encode, which buckets a part takes, and how one attempt goes."""

    kind: ClassVar[str]
    uses_token: ClassVar[bool] = False

    def __init__(self, *, name: str, policy: RetryPolicy, clock: Clock = SYSTEM_CLOCK,
                 http: HttpSettings | None = None, client: httpx.AsyncClient | None = None,
                 secrets: Iterable[str] = ()) -> None:
        self.name = name
        self.policy = policy
        self.clock = clock
        self._owns_client = client is None
        self.client: HttpClient = client if client is not None else new_client(http or HttpSettings())
        self._secrets = _redact.SecretValues(s for s in secrets if s)
        _redact.register(*self._secrets)
        self.log = logging.getLogger(f"pipeline.sinks.{self.kind}")
        self._closed = False
        # metric children looked up once (a labels() call costs more than the observation)
        self._bucket_wait = TOKEN_BUCKET_WAIT.labels(name)
        self._latency = DELIVERY_LATENCY.labels(name, self.kind)
        self._delivered: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    @property
    def concurrency(self) -> int:
        """Notifications this destination may have in flight at once. One for chat destinations: the numbered
        parts of one message must never interleave with another's, and their rate limits are tiny anyway."""
        return 1

    # --- what a destination provides

    @abstractmethod
    def encode(self, notification: Notification) -> Sequence[PartT]:
        """The messages to send, in order; raises EncodeError/TemplateError when impossible."""

    @abstractmethod
    async def acquire(self, part: PartT) -> float:
        """Wait for the destination's rate limit; returns seconds waited."""

    def try_acquire(self, part: PartT) -> bool:
        """Take the rate limit's tokens for `part` if they are there now, without waiting: a sink with a plain
        bucket says so here, and a send under its limit then costs no waiter tasks (`acquire` races `stop`)."""
        return False

    @abstractmethod
    async def attempt(self, part: PartT) -> AttemptResult:
        """Send one part once; never raises for destination or network errors."""

    async def refresh_token(self) -> None:
        """Drop the cached token so the next attempt fetches a new one (token-based sinks only)."""

    def live_secrets(self) -> frozenset[str]:
        """Every credential value that must be masked in outcomes and logs right now."""
        return self._secrets

    def dead_letter(self, outcome: DeliveryOutcome, notification: Notification, *, origin: Origin | None = None,
                    source: bytes | None = None) -> Envelope:
        """The exmail.dlq record for an undelivered notification, with this sink's live credentials masked
        wherever they occur (the one call path production uses)."""
        return dead_letter_for(outcome, notification, origin=origin, secrets=self.live_secrets(), source=source)

    # --- the shared loop

    async def deliver(self, notification: Notification, *, resume_at: int = 0, on_part: OnPart | None = None,
                      stop: asyncio.Event | None = None) -> DeliveryOutcome:
        start_wall, start = self.clock.time(), self.clock.monotonic()
        progress = _Progress()
        try:
            parts = self.encode(notification)
        except ValueError as exc:  # EncodeError, TemplateError, NotificationError
            return self._finish(notification, progress, 0, start_wall, start, "dead_lettered",
                                AttemptResult(ErrorClass.PERMANENT, "encode_error", detail=str(exc)))
        progress.parts_delivered = min(max(0, resume_at), len(parts))
        try:
            status = await self._send_parts(parts, progress, start, on_part, stop or asyncio.Event())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            trace = scrub(_redact.redact("".join(traceback.format_exception(exc))), self.live_secrets())
            self.log.error("sink %s: unexpected %s while delivering %s\n%s", self.name, type(exc).__name__,
                           notification.idempotency_key, trace)
            progress.last = AttemptResult(ErrorClass.TRANSIENT, "internal_error", detail=type(exc).__name__)
            status = "failed"
        return self._finish(notification, progress, len(parts), start_wall, start, status, progress.last)

    async def _send_parts(self, parts: Sequence[PartT], progress: _Progress, start: float,
                          on_part: OnPart | None, stop: asyncio.Event) -> DeliveryStatus:
        for part in parts[progress.parts_delivered:]:
            tries = refreshes = 0
            throttled_since: float | None = None
            while True:
                if stop.is_set():
                    return "interrupted"
                waited = 0.0 if self.try_acquire(part) else await _unless(stop, self.acquire(part))
                if waited is None:
                    return "interrupted"
                self._bucket_wait.observe(waited)
                tries += 1
                progress.attempts += 1
                result = await self.attempt(part)
                progress.last = result
                if result.invalid_recipients:
                    progress.invalid.extend(r for r in result.invalid_recipients if r not in progress.invalid)
                if result.ok:
                    progress.parts_delivered += 1
                    if on_part is not None:
                        await on_part(progress.parts_delivered, len(parts), progress.attempts)
                    break
                if result.error_class is ErrorClass.TOKEN_REFRESH and self.uses_token:
                    if refreshes >= self.policy.token_refreshes:
                        return "dead_lettered"
                    refreshes += 1
                    progress.token_refreshes += 1
                    DELIVERY_RETRIES.labels(self.name, result.reason).inc()
                    await self.refresh_token()
                    continue
                now = self.clock.monotonic()
                if result.rate_limited:
                    # the destination is full, not broken: wait for it (the backlog waits) instead of spending
                    # the retry budget, up to rate_limited_max_elapsed of answers that are all "too fast"
                    throttled_since = now if throttled_since is None else throttled_since
                    delay = self.policy.throttled_delay(result, attempts=tries, throttled=now - throttled_since)
                else:
                    throttled_since = None
                    delay = self.policy.next_delay(result, attempts=tries, elapsed=now - start)
                if delay is None:
                    return "failed" if result.error_class is ErrorClass.TRANSIENT else "dead_lettered"
                DELIVERY_RETRIES.labels(self.name, result.reason).inc()
                self.log.info("sink %s: %s, retry %d in %.2fs", self.name, result.reason, tries, delay)
                await _unless(stop, self.clock.sleep(delay))
                if stop.is_set():
                    return "interrupted"
        return "delivered"

    def _finish(self, n: Notification, progress: _Progress, parts: int, start_wall: float, start: float,
                status: DeliveryStatus, last: AttemptResult | None) -> DeliveryOutcome:
        latency = self.clock.monotonic() - start
        failed = status not in ("delivered", "interrupted")
        outcome = DeliveryOutcome(
            receiver=n.receiver, sink=self.name, kind=self.kind, notification_id=n.idempotency_key,
            group_key=n.group_key, status=status, attempts=progress.attempts, parts=parts,
            parts_delivered=progress.parts_delivered, latency_s=latency, started_at=utc_iso(start_wall),
            finished_at=utc_iso(start_wall + latency),
            errcode=last.errcode if last else None, http_status=last.http_status if last else None,
            reason=last.reason if failed and last else None,
            detail=scrub(last.detail, self.live_secrets()) if failed and last and last.detail else None,
            operator_alert=failed, token_refreshes=progress.token_refreshes,
            invalid_recipients=tuple(progress.invalid), corp_id=n.corp_id,
        )
        counter = self._delivered.get(status)
        if counter is None:
            counter = self._delivered[status] = DELIVERIES.labels(self.name, self.kind, status)
        counter.inc()
        self._latency.observe(latency)
        if failed:
            DELIVERY_FAILURES.labels(self.name, self.kind, status, outcome.reason or "unknown").inc()
            self.log.warning("sink %s: notification %s %s after %d attempts: %s (%s)", self.name,
                             n.idempotency_key, status, progress.attempts, outcome.reason, outcome.detail)
        elif status == "interrupted":
            self.log.info("sink %s: notification %s interrupted by a stop after %d of %d parts", self.name,
                          n.idempotency_key, progress.parts_delivered, parts)
        else:
            self.log.debug("sink %s: notification %s delivered in %d parts, %d attempts", self.name,
                           n.idempotency_key, parts, progress.attempts)
        return outcome

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        _redact.unregister(*self._secrets)
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()


_T = TypeVar("_T")


async def _unless(stop: asyncio.Event, wait: Awaitable[_T]) -> _T | None:
    """`wait`'s result, or None if `stop` is set first (the wait is then cancelled)."""
    task = asyncio.ensure_future(wait)
    if stop.is_set():
        task.cancel()
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if task.cancelled():
        return None
    return task.result()
