"""The delivery agent: exmail.notifications -> WeCom / OA / webhook / DingTalk / Feishu, outcomes to
exmail.deliveries.

One sequential queue per receiver (its token bucket paces it; a slow or rate-limited receiver never holds up the
others), manual acks after the send, and a compacted record of delivered notification ids so a redelivery after
a crash is not shown twice. A notification that cannot get through is dead-lettered (replayable) and raises a
DeliveryFailed operator alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from pipeline.dlq import Origin, dead_letter
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka.state import CompactedState, read_compacted
from pipeline.metrics import DLQ_RECORDS
from pipeline.worker.app import WorkerContext

log = logging.getLogger(__name__)
DELIVERED_TTL_SECONDS = 7 * 86400
QUEUE_PER_RECEIVER = 1000
# Machine receivers (webhook/OA) take several notifications at once; chat destinations get one at a time so the
# numbered parts of one message are never interleaved with another's (their rate limits are tiny anyway).
SENDS_IN_FLIGHT = {"webhook": 8}


def receiver_sink_configs(routing: Any) -> dict[str, Any]:
    """Sink config per receiver that has a `kind`; receivers without one only group/mute (a blackhole)."""
    from pipeline.sinks.delivery.factory import SINK_CONFIG

    out: dict[str, Any] = {}
    for receiver in routing.receivers:
        extra = dict(receiver.model_extra or {})
        if "kind" not in extra:
            continue
        out[receiver.name] = SINK_CONFIG.validate_python({**extra, "name": receiver.name})
    return out


def to_delivery_notification(data: dict[str, Any], corp_id: str, language: str, signer: Any | None) -> Any:
    """exmail.notification/1 (routing) -> the delivery sinks' Notification."""
    from pipeline.sinks.delivery.notification import AlertItem, Notification, SsoLink

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


def install_delivery(ctx: WorkerContext) -> None:
    from pipeline.secrets import resolve_secret
    from pipeline.sinks.delivery.factory import build_sink
    from pipeline.sso import SsoLinkSigner
    from pipeline.transforms.rules import Alert
    from pipeline.worker.alerting import alert_key_for, load_routing

    app, names = ctx.app, ctx.names
    alerting = ctx.config.alerting
    configs = receiver_sink_configs(load_routing(ctx))
    signer = None
    if alerting.sso is not None:
        signer = SsoLinkSigner(resolve_secret(alerting.sso.secret), alerting.sso.base_url, alerting.sso.ttl_seconds)
    notifications = ctx.topic(names.notifications)
    deliveries = ctx.topic(names.deliveries)
    alerts = ctx.topic(names.alerts)
    alert_key = alert_key_for(ctx)
    dlq = ctx.topic(names.dlq)
    delivered_topic = ctx.topic(names.state("delivered"), partitions=1)

    def write_delivered(key: bytes, value: bytes | None) -> None:
        delivered_topic.send_soon(key=key, value=value)

    @app.agent(notifications, name="delivery")
    async def delivery_agent(stream: Any) -> None:
        manual = stream.noack()
        sinks = {name: build_sink(cfg) for name, cfg in configs.items()}
        langs = {name: getattr(cfg, "language", "zh") for name, cfg in configs.items()}
        kinds = {name: cfg.kind for name, cfg in configs.items()}
        stored = await asyncio.to_thread(read_compacted, ctx.kafka.bootstrap, names.state("delivered"))
        now = time.time()
        delivered = CompactedState(write_delivered, {k: v for k, v in stored.items()
                                                     if isinstance(v, int | float) and v > now - DELIVERED_TTL_SECONDS})
        queues: dict[str, asyncio.Queue[tuple[Any, Any]]] = {}
        workers: list[asyncio.Task[None]] = []

        async def operator_alert(receiver: str, outcome: Any, note: Any) -> None:
            if not alerting.operator_alerts or any(a.labels.get("alertname") == "DeliveryFailed" for a in note.alerts):
                return
            t = time.time()
            alert = Alert(labels={"alertname": "DeliveryFailed", "severity": "critical", "receiver": receiver,
                                  "reason": outcome.reason or outcome.status, "corp": note.corp_id or "*"},
                          annotations={"summary": f"Notification to {receiver} was not delivered: {outcome.reason}",
                                       "summary_zh": f"通知发送到 {receiver} 失败：{outcome.reason}"},
                          starts_at=t, ends_at=t + 300, rule="delivery_failed")
            await alerts.send(key=alert_key(alert), value=alert.to_envelope(t).encode())

        in_flight: set[str] = set()

        async def run_receiver(receiver: str, queue: asyncio.Queue[tuple[Any, Any]]) -> None:
            sink = sinks[receiver]
            while True:
                event, note = await queue.get()
                key = note.idempotency_key
                if delivered.get(key) is None and key not in in_flight:
                    in_flight.add(key)
                    try:
                        await send(receiver, sink, event, note)
                    finally:
                        in_flight.discard(key)
                await manual.ack(event)

        async def send(receiver: str, sink: Any, event: Any, note: Any) -> None:
            outcome = await sink.deliver(note)
            await deliveries.send(key=receiver.encode(), value=outcome.to_envelope().encode())
            if outcome.status == "delivered":
                delivered.put(note.idempotency_key, int(time.time()))
                return
            msg = event.message
            letter = sink.dead_letter(outcome, note, origin=Origin(msg.topic, msg.partition, msg.offset, receiver),
                                      source=event.value)
            await dlq.send(key=msg.topic.encode(), value=letter.encode())
            DLQ_RECORDS.labels("delivery", outcome.status).inc()
            await operator_alert(receiver, outcome, note)

        try:
            async for event in manual.events():
                msg = event.message
                try:
                    env = Envelope.decode(event.value)
                    receiver = env.data.get("receiver")
                    if receiver not in sinks:
                        raise ValueError(f"receiver {receiver!r} has no delivery sink configured")
                    note = to_delivery_notification({**env.data, "id": env.id}, env.corp_id, langs[receiver],
                                                    signer)
                except (EnvelopeError, ValueError, KeyError, TypeError) as exc:
                    letter = dead_letter(stage="delivery", reason=str(exc), error_type=type(exc).__name__,
                                         origin=Origin(msg.topic, msg.partition, msg.offset, None),
                                         payload=event.value)
                    await dlq.send(key=msg.topic.encode(), value=letter.encode())
                    DLQ_RECORDS.labels("delivery", type(exc).__name__).inc()
                    await manual.ack(event)
                    continue
                queue = queues.get(receiver)
                if queue is None:
                    queue = queues[receiver] = asyncio.Queue(QUEUE_PER_RECEIVER)
                    workers.extend(asyncio.create_task(run_receiver(receiver, queue), name=f"deliver-{receiver}-{i}")
                                   for i in range(SENDS_IN_FLIGHT.get(kinds[receiver], 1)))
                await queue.put((event, note))
        finally:
            for task in workers:
                task.cancel()
            for task in workers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for sink in sinks.values():
                with contextlib.suppress(Exception):
                    await sink.aclose()



