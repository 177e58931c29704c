"""The delivery agent: exmail.notifications -> WeCom / OA / webhook / DingTalk / Feishu, outcomes to
exmail.deliveries.

One backlog per receiver (its token bucket paces it; a slow or rate-limited receiver never holds up the others),
manual acks after the send, and a compacted delivery log (exmail.state.delivered) written and acknowledged by the
broker before the worker moves on: a finished notification's id (not shown twice after a redelivery), and for a
multi-part one under way the parts already accepted, so a restarted worker continues at the next part.

Faults: a destination answering "too fast" (45009) is waited for, not dead-lettered; buckets start empty after a
restart (`SHARED_BUCKETS.cold`) so restarts never burst past a limit; a saturated receiver's backlog coalesces
by group (latest state), is visible on /metrics and raises DeliveryBacklog past `backlog_alert_seconds`; on stop,
sends end at a part boundary within `stop_grace_seconds` and everything unfinished is left unacked (uncommitted)
for the next start. Permanent errors are dead-lettered (replayable) with a DeliveryFailed operator alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka.state import CompactedState, read_compacted
from pipeline.metrics import (
    DELIVERY_BACKLOG,
    DELIVERY_BACKLOG_AGE,
    DELIVERY_COALESCED,
    DELIVERY_RESUMED,
)
from pipeline.secrets import resolve_secret
from pipeline.sinks.delivery.factory import build_sink
from pipeline.sinks.delivery.notification import AlertItem, Notification, SsoLink
from pipeline.sinks.delivery.token_bucket import SHARED_BUCKETS
from pipeline.sso import SsoLinkSigner
from pipeline.transforms.rules import Alert
from pipeline.worker._backlog import Backlog, Entry, OrderedAcks
from pipeline.worker.alerting import alert_key_for, routing_of
from pipeline.worker.app import WorkerContext

log = logging.getLogger(__name__)
DELIVERED_TTL_SECONDS = 7 * 86400
QUEUE_PER_RECEIVER = 1000
# Machine receivers (webhook/OA) take several notifications at once; chat destinations get one at a time so the
# numbered parts of one message are never interleaved with another's (their rate limits are tiny anyway).
SENDS_IN_FLIGHT = {"webhook": 8}
BACKLOG_TICK_SECONDS = 2.0
BACKLOG_REALERT_SECONDS = 300.0


def to_delivery_notification(data: dict[str, Any], corp_id: str, language: str, signer: Any | None) -> Any:
    """exmail.notification/1 (routing) -> the delivery sinks' Notification."""
    zh = language == "zh"
    items, links, users = [], [], []
    for a in data.get("alerts") or []:
        labels = {str(k): str(v) for k, v in (a.get("labels") or {}).items()}
        ann = {str(k): str(v) for k, v in (a.get("annotations") or {}).items()}
        summary = (ann.get("summary_zh") if zh else None) or ann.get("summary") or labels.get("alertname", "")
        items.append(AlertItem(labels=labels, annotations=ann, status=a.get("status", "firing"),
                               severity=labels.get("severity", "warning"), summary=summary,
                               starts_at=a.get("starts_at"), ends_at=a.get("ends_at"),
                               fingerprint=a.get("fingerprint")))
        if labels.get("user"):
            users.append(labels["user"])
        sso_user = a.get("sso_user")
        if signer is not None and sso_user and a.get("status", "firing") == "firing":
            corp = labels.get("corp") or corp_id
            links.append(SsoLink(label=("登录邮箱 " if zh else "Open mailbox ") + sso_user,
                                 url=signer.link(corp, sso_user)))
    return Notification(
        receiver=data["receiver"], group_key=data["group_key"], idempotency_key=data.get("id") or data["group_key"],
        alerts=tuple(items), title=(data.get("title_zh") if zh else None) or data.get("title", ""),
        sso_links=tuple(dict.fromkeys(links)), recipients=tuple(dict.fromkeys(users)), corp_id=corp_id,
        reason=data.get("reason", ""))


def _live(value: Any, now: float) -> bool:
    """A delivery-log value worth keeping: a finished id within the TTL, or parts under way within it."""
    stamp = value.get("at") if isinstance(value, dict) else value
    return isinstance(stamp, int | float) and stamp > now - DELIVERED_TTL_SECONDS


class _DeliveryLog:
    """exmail.state.delivered: id -> finished time (int), or {"parts", "attempts", "at"} while parts are under
    way. Every write is acknowledged by the broker before `put` returns (a crash right after a part was
    accepted must still find it recorded)."""

    def __init__(self, producer: Any, topic: str, initial: dict[str, Any]) -> None:
        self._producer = producer
        self._topic = topic
        self._pending: list[asyncio.Future[Any]] = []
        self.state = CompactedState(self._write, initial)

    def _write(self, key: bytes, value: bytes | None) -> None:
        assert value is not None  # the delivery log never deletes
        self._pending.append(asyncio.ensure_future(self._producer.send(self._topic, value, key)))

    async def put(self, key: str, value: Any) -> None:
        self.state.put(key, value)
        pending, self._pending = self._pending, []
        await asyncio.gather(*pending)


def install_delivery(ctx: WorkerContext) -> None:
    app, names = ctx.app, ctx.names
    alerting = ctx.config.alerting
    routing_of(ctx)
    configs = alerting.receivers()
    signer = None
    if alerting.sso is not None:
        signer = SsoLinkSigner(resolve_secret(alerting.sso.secret), alerting.sso.base_url, alerting.sso.ttl_seconds)
    notifications = ctx.topic(names.notifications)
    deliveries = ctx.topic(names.deliveries)
    alerts = ctx.topic(names.alerts)
    alert_key = alert_key_for(ctx)
    dlq = ctx.topic(names.dlq)
    dead = DeadLetters(names.dlq)
    ctx.topic(names.state("delivered"), partitions=1)  # declared so faust creates it
    SHARED_BUCKETS.cold = True  # this process cannot know what the previous one sent: buckets start empty
    stopping = asyncio.Event()
    backlogs: dict[str, Backlog] = {}
    workers: list[asyncio.Task[None]] = []
    acks_holder: list[OrderedAcks] = []  # the running agent's, for the stop hook

    def release(event: Any) -> None:
        """Leave an unfinished notification unacked without holding the stop up: faust waits for every tracked
        message to be acked before it commits; an untracked, unacked offset is simply not committed."""
        unacked = getattr(app.consumer, "_unacked_messages", None)  # faust's WeakSet of tracked messages
        if unacked is not None:
            unacked.discard(event.message)

    async def stop_delivery() -> None:
        stopping.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(b.idle() for b in backlogs.values())),
                                   alerting.stop_grace_seconds)
        for task in workers:
            task.cancel()
        for task in workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        left = sum(1 for backlog in backlogs.values() for _ in backlog.drain())
        for event in acks_holder[0].forget() if acks_holder else ():
            release(event)
        if left:
            log.warning("delivery: stopping with %d notification(s) unfinished; the next start continues them", left)

    ctx.before_stop.append(stop_delivery)

    @app.agent(notifications, name="delivery")
    async def delivery_agent(stream: Any) -> None:
        manual = stream.noack()
        acks = OrderedAcks(manual.ack)
        acks_holder[:] = [acks]
        sinks = {name: build_sink(cfg) for name, cfg in configs.items()}
        langs = {name: getattr(cfg, "language", "zh") for name, cfg in configs.items()}
        kinds = {name: cfg.kind for name, cfg in configs.items()}
        stored = await asyncio.to_thread(read_compacted, ctx.kafka.bootstrap, names.state("delivered"))
        now = time.time()
        dlog = _DeliveryLog(ctx.producer, names.state("delivered"),
                            {k: v for k, v in stored.items() if _live(v, now)})
        in_flight: set[str] = set()
        alerted_at: dict[str, float] = {}

        async def raise_alert(name: str, receiver: str, reason: str, summary: str, summary_zh: str,
                              corp: str, ttl: float = 300.0) -> None:
            t = time.time()
            alert = Alert(labels={"alertname": name, "severity": "critical", "receiver": receiver, "reason": reason,
                                  "corp": corp},
                          annotations={"summary": summary, "summary_zh": summary_zh},
                          starts_at=t, ends_at=t + ttl, rule=name.lower())
            await alerts.send(key=alert_key(alert), value=alert.to_envelope(t).encode())

        async def operator_alert(receiver: str, outcome: Any, note: Any) -> None:
            if not alerting.operator_alerts or any(a.labels.get("alertname") in ("DeliveryFailed", "DeliveryBacklog")
                                                   for a in note.alerts):
                return
            await raise_alert("DeliveryFailed", receiver, outcome.reason or outcome.status,
                              f"Notification to {receiver} was not delivered: {outcome.reason}",
                              f"通知发送到 {receiver} 失败：{outcome.reason}", note.corp_id or "*")

        async def watch_backlogs() -> None:
            """Backlog gauges, and DeliveryBacklog while a receiver's oldest notification waits too long."""
            while True:
                for receiver, backlog in backlogs.items():
                    age = backlog.oldest_age()
                    DELIVERY_BACKLOG.labels(receiver).set(len(backlog))
                    DELIVERY_BACKLOG_AGE.labels(receiver).set(age)
                    last = alerted_at.get(receiver, 0.0)
                    if (alerting.operator_alerts and age > alerting.backlog_alert_seconds
                            and time.monotonic() - last > BACKLOG_REALERT_SECONDS):
                        alerted_at[receiver] = time.monotonic()
                        log.warning("delivery: %s has %d notification(s) waiting, the oldest for %.0fs", receiver,
                                    len(backlog), age)
                        with contextlib.suppress(Exception):
                            await raise_alert(
                                "DeliveryBacklog", receiver, "backlog",
                                f"{receiver}: {len(backlog)} notifications waiting, oldest {age:.0f}s",
                                f"{receiver}：{len(backlog)} 条通知待发送，最早的已等待 {age:.0f} 秒", "*",
                                ttl=BACKLOG_REALERT_SECONDS * 2)
                await asyncio.sleep(BACKLOG_TICK_SECONDS)

        async def run_receiver(receiver: str, backlog: Backlog) -> None:
            sink = sinks[receiver]
            while True:
                entry = await backlog.take()
                try:
                    finished = await process(receiver, sink, entry)
                finally:
                    backlog.done(entry)
                if not finished:  # interrupted by a stop: stays unacked for the next start
                    return
                await acks.finished(entry.event)

        async def process(receiver: str, sink: Any, entry: Entry) -> bool:
            """Send one notification (from its next undelivered part); False when interrupted by a stop."""
            note, key = entry.note, entry.note.idempotency_key
            state = dlog.state.get(key)
            if isinstance(state, int | float) or key in in_flight:
                return True
            resume_at = int(state.get("parts", 0)) if isinstance(state, dict) else 0
            before = int(state.get("attempts", 0)) if isinstance(state, dict) else 0
            if resume_at:
                DELIVERY_RESUMED.labels(receiver).inc()
                log.info("delivery: %s continues notification %s at part %d", receiver, key, resume_at + 1)

            async def on_part(done: int, total: int, attempts: int) -> None:
                if done < total:
                    await dlog.put(key, {"parts": done, "attempts": before + attempts, "at": int(time.time())})

            in_flight.add(key)
            try:
                outcome = await sink.deliver(note, resume_at=resume_at, on_part=on_part, stop=stopping)
            finally:
                in_flight.discard(key)
            if outcome.status == "interrupted":
                return False
            await deliveries.send(key=receiver.encode(), value=outcome.to_envelope().encode())
            if outcome.status == "delivered":
                await dlog.put(key, int(time.time()))
                return True
            msg = entry.event.message
            letter = dead.wrap(sink.dead_letter(outcome, note, origin=Origin(msg.topic, msg.partition, msg.offset,
                                                                              receiver), source=entry.event.value),
                               stage="delivery", error_type=outcome.status)
            await dlq.send(key=letter.key, value=letter.value)
            await operator_alert(receiver, outcome, note)
            return True

        watcher = asyncio.create_task(watch_backlogs(), name="delivery-backlog")
        try:
            async for event in manual.events():
                if stopping.is_set():
                    release(event)
                    continue
                acks.taken(event)
                msg = event.message
                try:
                    env = Envelope.decode(event.value)
                    receiver = env.data.get("receiver")
                    if not isinstance(receiver, str) or receiver not in sinks:
                        raise ValueError(f"receiver {receiver!r} has no delivery sink configured")
                    note = to_delivery_notification({**env.data, "id": env.id}, env.corp_id, langs[receiver],
                                                    signer)
                except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
                    letter = dead.letter(stage="delivery", reason=str(exc), error_type=type(exc).__name__,
                                         origin=Origin(msg.topic, msg.partition, msg.offset, None),
                                         payload=event.value)
                    await dlq.send(key=letter.key, value=letter.value)
                    await acks.finished(event)
                    continue
                backlog = backlogs.get(receiver)
                if backlog is None:
                    backlog = backlogs[receiver] = Backlog(QUEUE_PER_RECEIVER)
                    workers.extend(asyncio.create_task(run_receiver(receiver, backlog), name=f"deliver-{receiver}-{i}")
                                   for i in range(SENDS_IN_FLIGHT.get(kinds[receiver], 1)))
                await backlog.wait_room()
                if stopping.is_set():
                    continue  # the stop hook releases it with the other unacked events
                replaced = backlog.put(event, note)
                if replaced is not None:  # the newer state of the same group goes out instead
                    old_key = replaced.note.idempotency_key
                    if old_key != note.idempotency_key:  # (a redelivered copy of the same one is just dropped)
                        DELIVERY_COALESCED.labels(receiver).inc()
                        # superseded counts as finished, also for a copy redelivered after a restart
                        await dlog.put(old_key, int(time.time()))
                    await acks.finished(replaced.event)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for sink in sinks.values():
                with contextlib.suppress(Exception):
                    await sink.aclose()
