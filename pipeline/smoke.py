"""`pipeline smoke`: prove the broker path end to end (produce with delivery reports, consume, commit)."""

from __future__ import annotations

import asyncio
import time
import uuid

import click
from confluent_kafka import Consumer

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, bootstrap_from_env, ensure_topics
from pipeline.kafka.topics import TopicSpec


def run_smoke(bootstrap: str | None, records: int) -> int:
    settings = KafkaSettings(bootstrap=bootstrap or bootstrap_from_env())
    topic = f"smoke.{uuid.uuid4().hex[:8]}"
    ensure_topics(settings.bootstrap, specs=(TopicSpec(topic, "corp/user", partitions=3),))
    envs = [
        Envelope(schema="smoke/1", id=fingerprint("smoke", i), corp_id="wmsmoke", source="smoke",
                 occurred_at=utc_iso(), data={"n": i})
        for i in range(records)
    ]

    async def produce() -> float:
        producer = EventProducer(settings)
        t0 = time.perf_counter()
        await producer.send_many((topic, record_key("wmsmoke", f"u{e.data['n'] % 50}"), e) for e in envs)
        dt = time.perf_counter() - t0
        producer.close()
        return dt

    dt = asyncio.run(produce())
    consumer = Consumer({"bootstrap.servers": settings.bootstrap, "group.id": f"{topic}-check",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    seen: set[str] = set()
    deadline = time.monotonic() + 30
    while len(seen) < records and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        seen.add(Envelope.decode(msg.value() or b"").id)
    consumer.commit(asynchronous=False)
    consumer.close()
    ok = seen == {e.id for e in envs}
    click.echo(f"smoke: produced {records} records to {topic} in {dt * 1000:.0f} ms "
               f"({records / dt:,.0f}/s), consumed {len(seen)} back: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1
