"""AuditBatch: the Kafka bytes written once, replays counted as duplicates."""

from __future__ import annotations

from pathlib import Path

import orjson

from pipeline.sinks._batching import BatchConfig
from pipeline.sinks.audit import AuditQuery
from pipeline.sinks.audit.sqlite import SqliteAuditStore
from pipeline.worker.audit import AuditBatch
from pipeline.worker.normalize import NormalizeBatch
from tests.unit._kafka_fakes import FakeMessage

from .conftest import NAMES, Producer, _mail


async def test_audit_batch_writes_kafka_bytes_once_and_replays_are_duplicates(tmp_path: Path) -> None:
    producer = Producer()
    handler = AuditBatch(lambda: SqliteAuditStore.open(tmp_path / "a.db"), BatchConfig(), producer,  # type: ignore[arg-type]
                         NAMES)
    await handler.start()
    normalize = NormalizeBatch(Producer(), NAMES)  # type: ignore[arg-type]
    raw = [FakeMessage(NAMES.raw("mail_log"), _mail(i).encode(), offset=i) for i in range(6)]
    events = [v for t, _, v in normalize.transform(raw)[0]]  # type: ignore[arg-type]
    batch = [FakeMessage(NAMES.events, v, partition=i % 2, offset=i) for i, v in enumerate(events)]
    batch.append(FakeMessage(NAMES.events, b"[]", partition=0, offset=99))
    await handler(batch)  # type: ignore[arg-type]
    await handler(batch[:4])  # type: ignore[arg-type]  # a replay after a crash: nothing new
    await handler.close()
    store = await SqliteAuditStore.open(tmp_path / "a.db")
    try:
        rows = [r async for r in store.query(AuditQuery())]
        report = await store.verify()
    finally:
        await store.close()
    assert sorted(r.id for r in rows) == sorted(_mail(i).id for i in range(6))
    assert {r.chain_partition for r in rows} == {0, 1}
    assert report.ok and report.rows == 6
    by_id = {orjson.loads(v)["id"]: v for v in events}
    assert all(orjson.dumps(r.envelope) == orjson.dumps(orjson.loads(by_id[r.id])) for r in rows)
    letters = [orjson.loads(v) for call in producer.calls for _, _, v in call]
    assert [d["data"]["origin"]["offset"] for d in letters] == [99]
