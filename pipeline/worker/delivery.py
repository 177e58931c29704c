"""Delivery: exmail.notifications -> WeCom / OA / webhook / DingTalk / Feishu, outcomes to exmail.deliveries.

Why not a faust agent: faust's consume + manual ack and two aiokafka produces per notification (the outcome and
the delivered mark) were a third of the delivery process's CPU in the alert burst (ops/bench/profiles). Here a
confluent-kafka consumer group (`<app id>-delivery`, cooperative-sticky) takes notifications a batch at a time,
the sends run concurrently (one backlog per receiver, bounded by its token bucket and its `concurrency`), and
the records the finished sends produce (outcome, delivered mark, dead letter, operator alert) go out with one
`enqueue_batch` per loop turn. An offset is committed once its notification is finished and those records are
acknowledged by the broker, in offset order per partition (`OffsetLine`).

Delivery log (exmail.state.delivered, compacted): a finished notification's id (not shown twice after a
redelivery), and for a multi-part one under way the parts already accepted, written and acknowledged before
the next part is sent, so a restarted worker continues at the next part. Read at start and again for every
newly assigned partition (another process may have written it), before that partition is consumed.

Faults: a destination answering "too fast" (45009) is waited for, not dead-lettered; buckets start empty after a
restart (`SHARED_BUCKETS.cold`) so restarts never burst past a limit; a saturated receiver's backlog coalesces
by group (latest state), is visible on /metrics and raises DeliveryBacklog past `backlog_alert_seconds`; while a
backlog is full the partitions are paused. On stop, sends end at a part boundary within `stop_grace_seconds`,
what finished is committed, and everything unfinished stays uncommitted for the next start. Permanent errors
are dead-lettered (replayable) with a DeliveryFailed operator alert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.batch import BatchRamp, LoadingPartitions, commit_owned, legacy_positions
from pipeline.kafka.producer import DeliveryError
from pipeline.kafka.state import read_compacted
from pipeline.logfilter import KAFKA_LOGGER
from pipeline.metrics import (
    DELIVERY_BACKLOG,
    DELIVERY_BACKLOG_AGE,
    DELIVERY_COALESCED,
    DELIVERY_RESUMED,
)
from pipeline.notification import Notification, NotificationError
from pipeline.ratelimit import SHARED_BUCKETS
from pipeline.secrets import resolve_secret
from pipeline.sinks.delivery.factory import build_sink
from pipeline.sinks.delivery.sink import Sink
from pipeline.sso import SsoLinkSigner
from pipeline.transforms.rules.alert import Alert
from pipeline.worker._backlog import Backlog, Entry, OffsetLine
from pipeline.worker.alerting import alert_key_for, routing_of
from pipeline.worker.app import WorkerContext
from pipeline.worker.lag import Watched

log = logging.getLogger(__name__)
DELIVERED_TTL_SECONDS = 7 * 86400
# Notifications waiting per receiver before the intake pauses. Large on purpose: librdkafka drops what it
# prefetched on a pause and fetches again only at its broker thread's next turn after the resume, 0.3-0.5 s later
# (measured: an alert burst sat idle that long after every resume, capping delivery near 2,000/s), so a pause is
# for a receiver that is really behind (the memory bound: ~4 KB a waiting notification), not for a burst.
QUEUE_PER_RECEIVER = 20_000
BACKLOG_TICK_SECONDS = 2.0
BACKLOG_REALERT_SECONDS = 300.0
BATCH_SIZE = 1000
COMMIT_SECONDS = 0.2
IDLE_POLL_SECONDS = 0.005

Record = tuple[str, bytes | None, bytes]


def _live(value: Any, now: float) -> bool:
    """A delivery-log value worth keeping: a finished id within the TTL, or parts under way within it."""
    stamp = value.get("at") if isinstance(value, dict) else value
    return isinstance(stamp, int | float) and stamp > now - DELIVERED_TTL_SECONDS


@dataclass(slots=True, frozen=True)
class Taken:
    """Where a notification came from: its offset is committed once it is finished."""

    partition: int
    offset: int
    value: bytes


@dataclass
class DeliverySettings:
    operator_alerts: bool = True
    backlog_alert_seconds: float = 300.0
    stop_grace_seconds: float = 6.0


class DeliveryService:
    """The delivery loop of one worker process; `run()` until `stop()`."""

    def __init__(self, *, kafka: KafkaSettings, names: TopicNames, group_id: str, sinks: dict[str, Sink],
                 languages: dict[str, str], producer: EventProducer,
                 alert_key: Callable[[Alert], bytes], signer: SsoLinkSigner | None = None,
                 settings: DeliverySettings | None = None, batch_size: int = BATCH_SIZE,
                 legacy_group: str = "") -> None:
        self.kafka, self.names, self.group = kafka, names, group_id
        self._letters = DeadLetters(names.dlq)
        self.sinks, self.languages = sinks, languages
        self.producer, self.alert_key, self.signer = producer, alert_key, signer
        self.settings = settings or DeliverySettings()
        self.batch_size = batch_size
        self.legacy_group = legacy_group  # where delivery committed as a faust agent (upgrades)
        self.name = "delivery"
        self.delivered: dict[str, Any] = {}  # the delivery log as this process knows it
        self.backlogs: dict[str, Backlog] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._line = OffsetLine()
        self._owned: set[int] = set()
        self._holding = LoadingPartitions(names.notifications)  # assigned, records held until the log is read
        self._loads: set[asyncio.Task[None]] = set()
        self._out: list[Record] = []
        self._finish: list[Taken] = []
        self._shipping: asyncio.Future[None] | None = None
        self._committed_at = 0.0
        self._in_flight_ids: set[str] = set()
        self._paused = False
        self._flow_paused: set[int] = set()  # the partitions the intake paused for a full backlog
        self._fetching: set[int] = set()  # owned partitions that have handed over a record since assigned
        self._stopping = asyncio.Event()
        self._consumer: Consumer | None = None
        self._alerted_at: dict[str, float] = {}

    def stop(self) -> None:
        self._stopping.set()

    def watched(self) -> Watched:
        """This service's partitions for the lag and stall monitor (/healthz)."""
        topic = self.names.notifications
        return Watched(self.name, self.group, lambda: [(topic, p) for p in sorted(self._owned)], self.describe)

    def describe(self) -> dict[str, Any]:
        return {"backlogs": {r: len(b) for r, b in self.backlogs.items()}, "paused": self._paused,
                "uncommitted": len(self._line), "shipping": self._shipping is not None}

    # --- the loop

    async def run(self) -> None:
        names = self.names
        await asyncio.to_thread(ensure_topics, self.kafka.bootstrap, prefix=names.prefix,
                                partitions=self.kafka.partitions, replication_factor=self.kafka.replication_factor)
        stored = await asyncio.to_thread(read_compacted, self.kafka.bootstrap, names.state("delivered"))
        now = time.time()
        self.delivered = {k: v for k, v in stored.items() if _live(v, now)}
        consumer = self._consumer = Consumer({
            "bootstrap.servers": self.kafka.bootstrap, "group.id": self.group,
            "partition.assignment.strategy": "cooperative-sticky", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 15000, "heartbeat.interval.ms": 1500,
            "log_level": 3, "logger": KAFKA_LOGGER,  # through the connection-log limiter
        })
        consumer.subscribe([names.notifications], on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        log.info("delivery: consuming %s as group %s", names.notifications, self.group)
        watcher = asyncio.create_task(self._watch_backlogs(), name="delivery-backlog")
        try:
            ramp = BatchRamp(self.batch_size)
            while not self._stopping.is_set():
                batch = consumer.consume(ramp.size, 0)
                ramp.took(len(batch))
                for load in [t for t in self._loads if t.done()]:
                    self._loads.discard(load)
                    load.result()  # a delivery-log read that failed stops delivery loudly
                for msg in batch:
                    self._take(msg)
                self._flow(consumer)
                self._ship()
                self._settle()
                # records waiting for the batch on its way go with a later turn: never spin on them (a loop
                # turn per task switch of the sends, burning the CPU they need)
                await asyncio.sleep(0 if batch else IDLE_POLL_SECONDS)
            await self._wind_down()
        finally:
            watcher.cancel()
            for task in [*self._loads, *self._workers]:
                task.cancel()
            for task in [watcher, *self._workers]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._consumer = None
            consumer.close()
            for sink in self.sinks.values():
                with contextlib.suppress(Exception):
                    await sink.aclose()

    async def _wind_down(self) -> None:
        """Sends end at their next part boundary (bounded by stop_grace_seconds); what finished is made durable
        and committed; the rest stays uncommitted for the next start."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(b.idle() for b in self.backlogs.values())),
                                   self.settings.stop_grace_seconds)
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._workers = []
        left = sum(1 for backlog in self.backlogs.values() for _ in backlog.drain())
        for _ in range(2):  # the batch on its way, then what finished meanwhile
            if self._shipping is not None:
                try:
                    await self._shipping
                except DeliveryError as exc:
                    log.error("delivery: records unacknowledged at stop (%s); their notifications are redone at "
                              "the next start", exc)
                    return
                self._shipping = None
            self._ship()
        self._settle(final=True)
        if left:
            log.warning("delivery: stopping with %d notification(s) unfinished; the next start continues them", left)

    def _take(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("delivery: consume error on %s: %s", self.names.notifications, err)
            return
        if self._holding.loading:  # a partition's delivery log is still being read: its records wait (hold)
            assert self._consumer is not None
            if self._holding.hold(self._consumer, msg):
                return
        partition, offset = msg.partition() or 0, msg.offset() or 0
        if partition not in self._owned:  # revoked within this batch
            return
        self._fetching.add(partition)
        taken = Taken(partition, offset, msg.value() or b"")
        self._line.taken(partition, offset)
        try:
            env = Envelope.decode(taken.value)
            receiver = env.data.get("receiver")
            if receiver not in self.sinks:
                raise ValueError(f"receiver {receiver!r} has no delivery sink configured")
            note = Notification.from_envelope(env, self.languages[receiver], self.signer)
        except (EnvelopeError, NotificationError, ValueError, KeyError, TypeError) as exc:
            self._out.append(self._letters.letter(
                stage="delivery", reason=str(exc), error_type=type(exc).__name__,
                origin=Origin(self.names.notifications, partition, offset, None), payload=taken.value))
            self._finish.append(taken)
            return
        backlog = self.backlogs.get(receiver)
        if backlog is None:
            backlog = self.backlogs[receiver] = Backlog(QUEUE_PER_RECEIVER)
            self._workers.extend(asyncio.create_task(self._run_receiver(receiver, backlog),
                                                     name=f"deliver-{receiver}-{i}")
                                 for i in range(max(1, self.sinks[receiver].concurrency)))
        replaced = backlog.put(taken, note)
        if replaced is not None:  # the newer state of the same group goes out instead
            old_key = replaced.note.id
            if old_key != note.id:  # (a redelivered copy of the same one is just dropped)
                DELIVERY_COALESCED.labels(receiver).inc()
                self._mark(old_key, int(time.time()))  # superseded counts as finished, also after a restart
            self._finish.append(replaced.event)

    def _flow(self, consumer: Consumer) -> None:
        """Pause the intake once a receiver's backlog is full (what is taken stays in hand); resume once every
        backlog is down to half, so a receiver that is behind does not pause and resume the intake (and make
        librdkafka fetch again) once per sent notification. Paused: the partitions that have handed over records
        (their fetchers run: see LoadingPartitions); one that has not yet has nothing in hand to hold back."""
        if self._paused:
            pause = not all(b.low for b in self.backlogs.values())
        else:
            pause = any(b.full for b in self.backlogs.values())
        if pause == self._paused:
            return
        topic = self.names.notifications
        if pause:
            # only partitions that have handed over records: their fetchers run (see LoadingPartitions)
            self._flow_paused = self._fetching & (self._owned - self._holding.loading)
            if self._flow_paused:
                consumer.pause([TopicPartition(topic, p) for p in sorted(self._flow_paused)])
        elif self._flow_paused:
            consumer.resume([TopicPartition(topic, p) for p in sorted(self._flow_paused)])
            self._flow_paused = set()
        self._paused = pause

    def _mark(self, key: str, value: Any) -> None:
        """A delivery-log write, shipped with this turn's records."""
        self.delivered[key] = value
        self._out.append((self.names.state("delivered"), key.encode(), _json(value)))

    def _ship(self) -> None:
        """Send the records finished sends produced, one batch at a time (error-only delivery reports: an
        acknowledged record costs one produce() and no Python callback); what comes meanwhile goes with the
        next batch. An offset is finished once its records are acknowledged."""
        if self._shipping is not None:
            if not self._shipping.done():
                return
            self._shipping.result()  # a batch the broker did not take stops delivery (nothing of it committed)
            self._shipping = None
        out, self._out = self._out, []
        finish, self._finish = self._finish, []
        if out:
            self._shipping = asyncio.ensure_future(self._send(out, finish))
        else:
            for taken in finish:
                self._line.finished(taken.partition, taken.offset)

    async def _send(self, out: list[Record], finish: list[Taken]) -> None:
        failed = [e for e in await self.producer.send_batch(out) if e is not None]
        if failed:
            raise failed[0]
        for taken in finish:
            self._line.finished(taken.partition, taken.offset)

    def _settle(self, *, final: bool = False) -> None:
        """Commit what became committable, at most every COMMIT_SECONDS (a commit costs more than a batch)."""
        now = time.monotonic()
        if not final and now - self._committed_at < COMMIT_SECONDS:
            return
        self._committed_at = now
        offsets = self._line.committable()
        if offsets:
            self._commit(offsets, asynchronous=not final)

    def _commit(self, offsets: dict[int, int], *, asynchronous: bool) -> None:
        commit_owned(self._consumer, self.names.notifications, offsets, self._owned,
                     asynchronous=asynchronous, stage="delivery")

    # --- sending

    async def _run_receiver(self, receiver: str, backlog: Backlog) -> None:
        sink = self.sinks[receiver]
        while True:
            entry = await backlog.take()
            try:
                finished = await self._process(receiver, sink, entry)
            finally:
                backlog.done(entry)
            if not finished:  # interrupted by a stop: stays uncommitted for the next start
                return

    async def _process(self, receiver: str, sink: Sink, entry: Entry) -> bool:
        """Send one notification (from its next undelivered part); False when interrupted by a stop."""
        note: Notification = entry.note
        taken: Taken = entry.event
        key = note.id
        state = self.delivered.get(key)
        if isinstance(state, int | float) or key in self._in_flight_ids:
            self._finish.append(taken)
            return True
        resume_at = int(state.get("parts", 0)) if isinstance(state, dict) else 0
        before = int(state.get("attempts", 0)) if isinstance(state, dict) else 0
        if resume_at:
            DELIVERY_RESUMED.labels(receiver).inc()
            log.info("delivery: %s continues notification %s at part %d", receiver, key, resume_at + 1)

        async def on_part(done: int, total: int, attempts: int) -> None:
            if done < total:  # acknowledged before the next part goes out
                value = {"parts": done, "attempts": before + attempts, "at": int(time.time())}
                self.delivered[key] = value
                await self.producer.send(self.names.state("delivered"), _json(value), key.encode())

        self._in_flight_ids.add(key)
        try:
            outcome = await sink.deliver(note, resume_at=resume_at, on_part=on_part, stop=self._stopping)
        finally:
            self._in_flight_ids.discard(key)
        if outcome.status == "interrupted":
            return False
        self._out.append((self.names.deliveries, receiver.encode(), outcome.encode()))
        if outcome.status == "delivered":
            self._mark(key, int(time.time()))
        else:
            origin = Origin(self.names.notifications, taken.partition, taken.offset, receiver)
            self._out.append(self._letters.wrap(sink.dead_letter(outcome, note, origin=origin, source=taken.value),
                                                stage="delivery", error_type=outcome.status))
            self._operator_alert(receiver, outcome, note)
        self._finish.append(taken)
        return True

    # --- operator alerts and backlog gauges

    def _raise_alert(self, name: str, receiver: str, reason: str, summary: str, summary_zh: str, corp: str,
                     ttl: float = 300.0) -> None:
        t = time.time()
        alert = Alert(labels={"alertname": name, "severity": "critical", "receiver": receiver, "reason": reason,
                              "corp": corp},
                      annotations={"summary": summary, "summary_zh": summary_zh},
                      starts_at=t, ends_at=t + ttl, rule=name.lower())
        self._out.append((self.names.alerts, self.alert_key(alert), alert.to_envelope(t).encode()))

    def _operator_alert(self, receiver: str, outcome: Any, note: Notification) -> None:
        if not self.settings.operator_alerts or any(
                a.labels.get("alertname") in ("DeliveryFailed", "DeliveryBacklog") for a in note.alerts):
            return
        self._raise_alert("DeliveryFailed", receiver, outcome.reason or outcome.status,
                          f"Notification to {receiver} was not delivered: {outcome.reason}",
                          f"通知发送到 {receiver} 失败：{outcome.reason}", note.corp_id or "*")

    async def _watch_backlogs(self) -> None:
        """Backlog gauges, and DeliveryBacklog while a receiver's oldest notification waits too long."""
        while True:
            for receiver, backlog in self.backlogs.items():
                age = backlog.oldest_age()
                DELIVERY_BACKLOG.labels(receiver).set(len(backlog))
                DELIVERY_BACKLOG_AGE.labels(receiver).set(age)
                last = self._alerted_at.get(receiver, 0.0)
                if (self.settings.operator_alerts and age > self.settings.backlog_alert_seconds
                        and time.monotonic() - last > BACKLOG_REALERT_SECONDS):
                    self._alerted_at[receiver] = time.monotonic()
                    log.warning("delivery: %s has %d notification(s) waiting, the oldest for %.0fs", receiver,
                                len(backlog), age)
                    self._raise_alert("DeliveryBacklog", receiver, "backlog",
                                      f"{receiver}: {len(backlog)} notifications waiting, oldest {age:.0f}s",
                                      f"{receiver}：{len(backlog)} 条通知待发送，最早的已等待 {age:.0f} 秒", "*",
                                      ttl=BACKLOG_REALERT_SECONDS * 2)
            await asyncio.sleep(BACKLOG_TICK_SECONDS)

    # --- partitions coming and going (called inside consume(), on the event loop's thread)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Take the partitions; their records are held until the delivery log is read again (another process may
        have finished or started notifications of them since this one started). Not paused here: see
        LoadingPartitions."""
        if not partitions:
            return
        # a partition this group never committed starts where the faust agent's group got to (upgrades)
        if self.legacy_group:
            legacy_positions(self.name, self.kafka.bootstrap, consumer, partitions, self.legacy_group)
        consumer.incremental_assign(partitions)
        mine = {tp.partition for tp in partitions}
        self._owned.update(mine)
        self._holding.start(mine)
        self._loads.add(asyncio.get_running_loop().create_task(self._load(consumer, partitions)))

    async def _load(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        started = time.monotonic()
        stored = await asyncio.to_thread(read_compacted, self.kafka.bootstrap, self.names.state("delivered"))
        now = time.time()
        for key, value in stored.items():
            if _live(value, now) and not isinstance(self.delivered.get(key), int | float):
                self.delivered[key] = value
        mine = [tp.partition for tp in partitions if tp.partition in self._holding]  # not revoked meanwhile
        # held records go first (no consume() runs until this task awaits again); while the intake is paused for
        # a full backlog the partitions stay paused, and the intake's resume takes them along
        held = self._holding.release(consumer, mine, resume=self._consumer is consumer and not self._paused)
        if self._paused:
            self._flow_paused.update(msg.partition() or 0 for msg in held)  # still paused: the intake resumes them
        for msg in held:
            self._take(msg)
        log.info("delivery: assigned %s[%s] (delivery log of %d ids read in %.2f s)", self.names.notifications,
                 ",".join(map(str, mine)), len(stored), time.monotonic() - started)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = sorted(tp.partition for tp in partitions)
        if not revoked:
            return
        # Everything produced so far is made durable before the partitions move, so the next owner's read of
        # the delivery log sees it; what finished is committed. Waiting notifications of these partitions are
        # dropped here (uncommitted: the next owner sends them). A send under way finishes and writes its
        # delivered mark, which the next owner may not have read yet: at-least-once.
        out, self._out = self._out, []
        finish, self._finish = self._finish, []
        if out:
            self.producer.enqueue_batch(out)
        left = self.producer.flush(10.0)
        if left:
            log.error("delivery: %d records unacknowledged at revocation of %s", left, revoked)
        else:
            for taken in finish:
                self._line.finished(taken.partition, taken.offset)
            offsets = self._line.committable()
            if offsets:
                self._commit(offsets, asynchronous=False)
        self._forget(consumer, revoked)
        log.info("delivery: revoked %s[%s]", self.names.notifications, ",".join(map(str, revoked)))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = sorted(tp.partition for tp in partitions)
        self._forget(consumer, lost)
        log.error("delivery: lost %s[%s] (session timed out); their uncommitted notifications go to the next "
                  "owner", self.names.notifications, ",".join(map(str, lost)))

    def _forget(self, consumer: Consumer, partitions: list[int]) -> None:
        gone = set(partitions)
        if paused := sorted(gone & self._flow_paused):  # librdkafka keeps an application pause across a
            self._flow_paused.difference_update(paused)  # reassignment: undo the intake's
            with contextlib.suppress(KafkaException):
                consumer.resume([TopicPartition(self.names.notifications, p) for p in paused])
        self._holding.drop(consumer, gone)
        self._owned.difference_update(gone)
        self._fetching.difference_update(gone)
        self._line.forget(partitions)
        for backlog in self.backlogs.values():
            backlog.discard(lambda e: e.event.partition in gone)


def _json(value: Any) -> bytes:
    return b"%d" % value if isinstance(value, int) else orjson.dumps(value)


def install_delivery(ctx: WorkerContext) -> None:
    alerting = ctx.config.alerting
    routing_of(ctx)
    configs = alerting.receivers()
    signer = None
    if alerting.sso is not None:
        signer = SsoLinkSigner(resolve_secret(alerting.sso.secret), alerting.sso.base_url, alerting.sso.ttl_seconds)
    SHARED_BUCKETS.cold = True  # this process cannot know what the previous one sent: buckets start empty
    # Its own producer with a 1 ms linger: outcomes and marks of one loop turn share a request.
    producer = EventProducer(ctx.kafka, **{"linger.ms": 1})
    service = DeliveryService(
        kafka=ctx.kafka, names=ctx.names, group_id=f"{ctx.app.conf.id}-delivery",
        sinks={name: build_sink(cfg) for name, cfg in configs.items()},
        languages={name: getattr(cfg, "language", "zh") for name, cfg in configs.items()},
        producer=producer,
        alert_key=alert_key_for(ctx), signer=signer, legacy_group=ctx.app.conf.id,
        settings=DeliverySettings(operator_alerts=alerting.operator_alerts,
                                  backlog_alert_seconds=alerting.backlog_alert_seconds,
                                  stop_grace_seconds=alerting.stop_grace_seconds))
    ctx.watched.append(service.watched())
    ctx.run_service("delivery", service, producer)
