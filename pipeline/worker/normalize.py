"""The normalize agent: exmail.raw.* and hr.lifecycle -> exmail.events, bad records -> exmail.dlq.

Directory enrichment reads a faust table fed by exmail.raw.directory. Raw topics are keyed "corp/userid" and
the directory's user records "corp/userid" too, so a user's table entry lives in the partition the worker
already owns (co-partitioned: same partition count, murmur2 on both sides).
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson

from pipeline.dlq import Origin, dead_letter
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.metrics import DLQ_RECORDS, TRANSFORM_LATENCY, TRANSFORM_RECORDS
from pipeline.records import RAW_SCHEMAS
from pipeline.transforms.normalize import DirectoryUser
from pipeline.worker.app import WorkerContext

STAGE = "normalize"


class TableDirectory:
    """DirectoryLookup over the faust table: "corp/userid" -> user snapshot (name, departments, enable)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def user(self, corp_id: str, userid: str) -> DirectoryUser | None:
        raw = self._table.get(f"{corp_id}/{userid.lower()}".encode())
        if raw is None:
            return None
        value = orjson.loads(raw)
        return cast(DirectoryUser, value) if isinstance(value, dict) else None


def apply_directory_change(table: Any, env: Envelope) -> None:
    """Keep the user table current from one exmail.raw.directory record."""
    data = env.data
    if data.get("object_type") != "user":
        return
    userid = str(data.get("object_id", "")).lower()
    if not userid:
        return
    key = f"{env.corp_id}/{userid}".encode()
    after = data.get("after")
    if data.get("change") == "deleted" or not isinstance(after, dict):
        table.pop(key, None)
        return
    table[key] = orjson.dumps({
        "name": after.get("name"),
        "department_ids": after.get("department_ids", after.get("department") or []),
        "department_paths": after.get("department_paths") or [],
        "enable": after.get("enable"),
    })


def install_normalize(ctx: WorkerContext) -> None:
    from pipeline.transforms.normalize import NormalizeError, event_key, normalize

    app, names = ctx.app, ctx.names
    sources = [names.raw(kind) for kind in RAW_SCHEMAS] + [names.hr_lifecycle]
    source_topic = app.topic(*sources, key_type=bytes, value_type=bytes)
    for name in sources:
        ctx.topic(name)
    events = ctx.topic(names.events)
    dlq = ctx.topic(names.dlq)
    directory_topic = ctx.topic(names.raw("directory"))
    users = app.Table("directory-users", key_type=bytes, value_type=bytes, partitions=ctx.kafka.partitions)
    lookup = TableDirectory(users)

    @app.agent(directory_topic, name="directory-table")
    async def directory_table(stream: Any) -> None:
        async for value in stream:
            try:
                apply_directory_change(users, Envelope.decode(value))
            except EnvelopeError:
                continue  # the normalize agent dead-letters the same record

    @app.agent(source_topic, name="normalize")
    async def normalize_agent(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            t0 = time.perf_counter()
            try:
                raw = Envelope.decode(event.value)
                out = normalize(raw, lookup)
            except (EnvelopeError, NormalizeError) as exc:
                reason = getattr(exc, "reason", None) or str(exc)
                letter = dead_letter(
                    stage=STAGE, reason=reason, error_type=type(exc).__name__,
                    origin=Origin(msg.topic, msg.partition, msg.offset,
                                  event.key.decode("utf-8", "replace") if event.key else None),
                    payload=event.value)
                await dlq.send(key=msg.topic.encode(), value=letter.encode())
                DLQ_RECORDS.labels(STAGE, type(exc).__name__).inc()
                TRANSFORM_RECORDS.labels(STAGE, "dead_lettered").inc()
                continue
            key = event_key(out)
            await events.send(key=key, value=out.encode())
            TRANSFORM_RECORDS.labels(STAGE, "ok").inc()
            TRANSFORM_LATENCY.labels(STAGE).observe(time.perf_counter() - t0)
