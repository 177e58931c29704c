"""The batch units without a broker: normalize's handler (events, dead letters, directory enrichment), the audit
handler against a real SQLite store (one transaction per batch, Kafka bytes stored as the record, replays are
duplicates), the directory copy, and the per-partition progress the health check reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import TopicPartition

from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.kafka import TopicNames
from pipeline.kafka.batch import ConsumerProgress
from pipeline.kafka.producer import DeliveryError
from pipeline.records import RAW_SCHEMAS, raw_id
from pipeline.sinks._batching import BatchConfig
from pipeline.sinks.audit import AuditQuery
from pipeline.sinks.audit.sqlite import SqliteAuditStore
from pipeline.transforms.normalize.directory_copy import DirectoryCopy
from pipeline.worker.audit import AuditBatch
from pipeline.worker.normalize import NormalizeBatch

CORP = "wm0123456789abcdef"
NAMES = TopicNames("t.")


class Msg:
    """The part of confluent_kafka.Message the handlers use."""

    def __init__(self, topic: str, value: bytes | None, partition: int = 0, offset: int = 0,
                 key: bytes | None = None) -> None:
        self._t, self._v, self._p, self._o, self._k = topic, value, partition, offset, key

    def topic(self) -> str:
        return self._t

    def value(self) -> bytes | None:
        return self._v

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return self._k


class Producer:
    """Records every send_batch call; `fail_first` refuses the first delivery attempt of every record."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[list[tuple[str, bytes | None, bytes]]] = []
        self.fail_first = fail_first

    async def send_batch(self, records: Any) -> list[DeliveryError | None]:
        batch = list(records)
        self.calls.append(batch)
        if self.fail_first and len(self.calls) == 1:
            return [DeliveryError(t, "injected") for t, _, _ in batch]
        return [None for _ in batch]


def _mail(i: int, sender: str = "alice@example.com") -> Envelope:
    rec = {"mailtype": 1, "sender": sender, "receiver": f"c{i}@partner.cn", "subject": f"s{i}",
           "time": 1_764_000_000 + i, "status": 3}
    ctx = {"date": "2025-11-24", "query_mailtype": 0}
    return Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec, 0, ctx), corp_id=CORP,
                    source="mail_log", occurred_at=utc_iso(rec["time"]), data={"record": rec, "context": ctx})


async def test_normalize_batch_produces_events_and_dead_letters_once_per_batch() -> None:
    directory = DirectoryCopy()
    directory.apply(f"{CORP}/user/Alice@example.com".encode(),
                    orjson.dumps({"name": "Alice Liddell", "department": [7], "enable": 1}))
    producer = Producer(fail_first=True)
    caught_up: list[int] = []
    handler = NormalizeBatch(producer, NAMES, directory, lambda: caught_up.append(1))  # type: ignore[arg-type]
    raw = NAMES.raw("mail_log")
    batch = [Msg(raw, _mail(i).encode(), offset=i, key=record_key(CORP, "alice@example.com")) for i in range(3)]
    batch.insert(1, Msg(raw, b"{not json", offset=9, key=b"k"))
    batch.append(Msg(raw, None, offset=10))
    await handler(batch)  # type: ignore[arg-type]
    assert caught_up == [1]
    assert len(producer.calls) == 2  # one batch, then the retry of what the broker refused
    assert producer.calls[0] == producer.calls[1]
    sent = producer.calls[-1]
    events = [orjson.loads(v) for t, _, v in sent if t == NAMES.events]
    letters = [orjson.loads(v) for t, _, v in sent if t == NAMES.dlq]
    assert [e["id"] for e in events] == [_mail(i).id for i in range(3)]
    assert {e["data"]["user"].get("full_name") for e in events} == {"Alice Liddell"}
    assert [(d["data"]["stage"], d["data"]["origin"]["offset"]) for d in letters] == [("normalize", 9),
                                                                                    ("normalize", 10)]


async def test_audit_batch_writes_kafka_bytes_once_and_replays_are_duplicates(tmp_path: Path) -> None:
    producer = Producer()
    handler = AuditBatch(lambda: SqliteAuditStore.open(tmp_path / "a.db"), BatchConfig(), producer,  # type: ignore[arg-type]
                         NAMES)
    await handler.start()
    normalize = NormalizeBatch(Producer(), NAMES)  # type: ignore[arg-type]
    raw = [Msg(NAMES.raw("mail_log"), _mail(i).encode(), offset=i) for i in range(6)]
    events = [v for t, _, v in normalize.transform(raw)[0]]  # type: ignore[arg-type]
    batch = [Msg(NAMES.events, v, partition=i % 2, offset=i) for i, v in enumerate(events)]
    batch.append(Msg(NAMES.events, b"[]", partition=0, offset=99))
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


def test_directory_copy_follows_state_records() -> None:
    copy = DirectoryCopy()
    key = f"{CORP}/user/Bob@Example.com".encode()
    copy.apply(key, orjson.dumps({"name": "Bob", "department_ids": [1, 2], "department_paths": ["a", "a/b"]}))
    copy.apply(f"{CORP}/department/1".encode(), orjson.dumps({"name": "Sales"}))
    copy.apply(f"{CORP}/user/carol@example.com".encode(), b"not json")
    assert copy.user(CORP, "bob@example.com") == {"name": "Bob", "department_ids": [1, 2],
                                                  "department_paths": ["a", "a/b"], "enable": None}
    assert copy.user(CORP, "carol@example.com") is None
    copy.apply(key, None)
    assert copy.user(CORP, "bob@example.com") is None


def test_progress_reports_partitions_with_lag_and_no_recent_progress() -> None:
    progress = ConsumerProgress("audit", "g.audit", ("t.exmail.events",))
    progress._assigned([TopicPartition("t.exmail.events", 0), TopicPartition("t.exmail.events", 1)])
    progress._marks({("t.exmail.events", 0): (10, 50), ("t.exmail.events", 1): (20, 20)})
    now = progress.snapshot()[0].last_progress
    assert progress.stalled(30, now=now + 10) == []
    stuck = progress.stalled(30, now=now + 31)
    assert [(p.partition, p.lag) for p in stuck] == [(0, 40)]  # partition 1 is caught up: not stalled
    progress._committed({("t.exmail.events", 0): 50}, records=40)
    assert progress.stalled(30, now=now + 31) == [] and progress.records == 40
    progress._revoked([TopicPartition("t.exmail.events", 0)])
    assert [p.partition for p in progress.snapshot()] == [1]
