"""`pipeline worker` normalize agent against the real broker: raw -> exmail.events, bad -> exmail.dlq, replay."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable

import pytest

from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.records import RAW_SCHEMAS, raw_id
from pipeline.schema_registry import validate

pytestmark = pytest.mark.integration
CORP = "wm0123456789abcdef"


def _mail(i: int) -> Envelope:
    rec = {"mailtype": 1, "sender": f"user{i % 5}@example.com", "receiver": f"p{i}@partner.com",
           "subject": f"quote {i}", "time": 1_764_000_000 + i, "status": 3}
    return Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec), corp_id=CORP,
                    source="mail_log", occurred_at=utc_iso(rec["time"]),
                    data={"record": rec, "context": {"date": "2025-11-24", "query_mailtype": 0}})


def _login(i: int) -> Envelope:
    rec = {"time": 1_764_000_100 + i, "ip": f"10.0.0.{i}", "type": 1 + i % 5}
    ctx = {"userid": f"user{i}@example.com", "date": "2025-11-24"}
    return Envelope(schema=RAW_SCHEMAS["login_log"], id=raw_id(CORP, "login_log", rec, 0, ctx), corp_id=CORP,
                    source="login_log", occurred_at=utc_iso(rec["time"]), data={"record": rec, "context": ctx})


def _produce(bootstrap: str, records: list[tuple[str, bytes, bytes]]) -> None:
    async def go() -> None:
        p = EventProducer(KafkaSettings(bootstrap=bootstrap))
        await p.send_many(records)
        p.close()

    asyncio.run(go())


def test_worker_normalizes_raw_records_and_dead_letters_malformed_ones_then_replays(
        kafka_bootstrap: str, topic_prefix: str, worker_factory: Callable, consume_all: Callable) -> None:
    names = TopicNames(topic_prefix)
    good = [_mail(i) for i in range(20)] + [_login(i) for i in range(10)]
    records = [(names.raw(e.source), record_key(CORP, e.data["context"].get("userid") or
                                                 e.data["record"]["sender"]), e.encode()) for e in good]
    bad_missing = _mail(99)
    del bad_missing.data["record"]["time"]
    records.append((names.raw("mail_log"), record_key(CORP, "user1@example.com"), bad_missing.encode()))
    records.append((names.raw("login_log"), record_key(CORP, "x"), b"{not json"))
    _produce(kafka_bootstrap, records)

    worker = worker_factory("--agent", "normalize")
    events = consume_all(kafka_bootstrap, names.events, expect=30, alive=lambda: worker.proc.poll() is None)
    dlq = consume_all(kafka_bootstrap, names.dlq, expect=2, timeout=20)
    assert worker.proc.poll() is None, worker.log()
    ids = [e["id"] for e in events]
    assert sorted(ids) == sorted(e.id for e in good), worker.log()
    for ev in events:
        assert validate("exmail.event/1", ev) == []
    assert len(dlq) == 2
    reasons = sorted(d["data"]["reason"] for d in dlq)
    assert any("time" in r for r in reasons) and any("JSON" in r for r in reasons)
    for d in dlq:
        assert d["data"]["origin"]["topic"] in (names.raw("mail_log"), names.raw("login_log"))
        assert isinstance(d["data"]["origin"]["offset"], int)
        assert validate("exmail.dlq/1", d) == []

    # replay --dry-run lists both and produces nothing; a real replay re-injects the mail record
    base = [sys.executable, "-m", "pipeline.cli", "replay", "--bootstrap", kafka_bootstrap, "--prefix", topic_prefix]
    dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert "2 matched, would re-inject 2" in dry.stderr
    real = subprocess.run([*base, "--origin-topic", names.raw("mail_log")], capture_output=True, text=True,
                          timeout=60)
    assert real.returncode == 0 and "re-injected 1" in real.stderr, real.stderr
    dlq_after = consume_all(kafka_bootstrap, names.dlq, expect=3, timeout=30)
    assert len(dlq_after) == 3  # still invalid: dead-lettered again with a new origin offset
    assert worker.stop() == 0, worker.log()
