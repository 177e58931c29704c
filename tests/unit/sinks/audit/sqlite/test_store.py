"""SQLite audit store: idempotent writes, chains, tamper detection, queries, the audit sink and the CLI."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from pipeline.cli import main as pipeline_main
from pipeline.envelope import Envelope
from pipeline.sinks._batching import BatchConfig
from pipeline.sinks.audit import AuditQuery, AuditSink, AuditStoreConfig, StoreUnavailable
from pipeline.sinks.audit.cli import parse_time
from pipeline.sinks.audit.sqlite import SqliteAuditStore
from pipeline.sinks.registry import open_audit_store

EventFactory = Callable[..., Envelope]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteAuditStore]:
    s = await SqliteAuditStore.open(tmp_path / "audit.db")
    yield s
    await s.close()


async def rows_of(store: SqliteAuditStore, **filters: Any) -> list[Any]:
    return [r async for r in store.query(AuditQuery(**filters))]


async def test_same_batch_twice_stores_each_id_once(
        store: SqliteAuditStore, audit_event: EventFactory) -> None:
    batch = [audit_event(i) for i in range(10)]
    first = await store.write_batch(batch, 0)
    second = await store.write_batch(batch, 0)
    assert (first.inserted, first.duplicates) == (10, 0)
    assert (second.inserted, second.duplicates) == (0, 10)
    rows = await rows_of(store)
    assert sorted(r.id for r in rows) == sorted(e.id for e in batch)
    assert [r.seq for r in sorted(rows, key=lambda r: r.seq)] == list(range(1, 11))


async def test_duplicates_do_not_advance_the_chain(
        store: SqliteAuditStore, audit_event: EventFactory) -> None:
    await store.write_batch([audit_event(i) for i in range(5)], 0)
    result = await store.write_batch([audit_event(i) for i in range(3, 8)], 0)
    assert (result.inserted, result.duplicates) == (3, 2)
    report = await store.verify()
    assert report.ok and report.rows == 8
    assert report.heads[0].seq == 8


async def test_chains_are_kept_per_corp_and_partition(
        store: SqliteAuditStore, audit_event: EventFactory) -> None:
    await store.write_batch([audit_event(i, corp=c) for i, c in enumerate("ababa")], 0)
    await store.write_batch([audit_event(10 + i, corp="a") for i in range(2)], 1)
    report = await store.verify()
    assert report.ok
    assert {(h.corp_id, h.chain_partition, h.seq) for h in report.heads} == {("a", 0, 3), ("b", 0, 2), ("a", 1, 2)}


async def test_the_envelope_is_stored_whole(store: SqliteAuditStore, audit_event: EventFactory) -> None:
    env = audit_event(1, extra={"email": {"subject": "Q3 \u62a5\u544a", "to": {"address": ["x@y.z"]}}})
    await store.write_batch([env], 0)
    (row,) = await rows_of(store)
    assert row.envelope == env.to_dict()
    assert (row.user, row.kind, row.action, row.source_ip, row.outcome) == (
        "alice@example.com", "exmail.login_log", "login", "10.0.0.1", "success")


async def test_unstorable_records_are_returned_for_the_dead_letter_queue(
        store: SqliteAuditStore, audit_event: EventFactory) -> None:
    bad = audit_event(2)
    bad.occurred_at = "not a time"
    result = await store.write_batch([audit_event(1), bad], 0)
    assert result.inserted == 1
    assert [r.envelope for r in result.rejected] == [bad]


async def test_query_filters(store: SqliteAuditStore, audit_event: EventFactory) -> None:
    await store.write_batch([
        audit_event(1, user="alice@example.com", ip="10.0.0.5", occurred="2026-11-01T08:00:00.000Z"),
        audit_event(2, user="bob@example.com", ip="10.0.1.7", occurred="2026-11-02T08:00:00.000Z",
                    dataset="exmail.mail_log", action="mail-send"),
        audit_event(3, user="alice@example.com", ip="192.168.1.1", occurred="2026-11-03T08:00:00.000Z",
                    dataset="exmail.operation_log", action="user-delete", corp="corp2"),
        audit_event(4, user="carol@example.com", ip="2001:db8::7", occurred="2026-11-04T08:00:00.000Z"),
    ], 0)

    async def ids(**f: Any) -> list[int]:
        return [int(r.envelope["data"]["@timestamp"][8:10]) for r in await rows_of(store, **f)]

    assert await ids(user="alice@example.com") == [1, 3]
    assert await ids(kind="exmail.mail_log") == [2]
    assert await ids(kind="exmail.*_log") == [1, 2, 3, 4]
    assert await ids(kind="exmail.o*") == [3]
    assert await ids(action="user-delete") == [3]
    assert await ids(corp_id="corp2") == [3]
    assert await ids(since=datetime(2026, 11, 2, tzinfo=UTC)) == [2, 3, 4]
    assert await ids(until=datetime(2026, 11, 2, 8, tzinfo=UTC)) == [1]
    assert await ids(ip="10.0.0.0/16") == [1, 2]
    assert await ids(ip="10.0.1.7") == [2]
    assert await ids(ip="2001:db8::/32") == [4]
    assert await ids(limit=2, newest_first=True) == [4, 3]
    with pytest.raises(ValueError, match="CIDR"):
        AuditQuery(ip="10.0.0.300")


async def test_verify_finds_a_row_changed_with_sql(
        tmp_path: Path, store: SqliteAuditStore, audit_event: EventFactory) -> None:
    batch = [audit_event(i) for i in range(6)]
    await store.write_batch(batch, 0)
    assert (await store.verify()).ok
    with sqlite3.connect(tmp_path / "audit.db") as con:
        con.execute("UPDATE audit_records SET user_name = 'mallory' WHERE seq = 4")
    report = await store.verify()
    assert not report.ok and report.first_break is not None
    brk = report.first_break
    assert (brk.corp_id, brk.chain_partition, brk.seq) == ("corp1", 0, 4)
    (changed,) = [r for r in await rows_of(store) if r.seq == 4]
    assert brk.id == changed.id and "modified" in brk.reason


async def test_verify_finds_a_deleted_row(
        tmp_path: Path, store: SqliteAuditStore, audit_event: EventFactory) -> None:
    await store.write_batch([audit_event(i) for i in range(6)], 0)
    with sqlite3.connect(tmp_path / "audit.db") as con:
        con.execute("DELETE FROM audit_records WHERE seq = 2")
    brk = (await store.verify()).first_break
    assert brk is not None and brk.seq == 3 and "missing seq 2" in brk.reason


async def test_a_locked_database_is_a_retriable_error(tmp_path: Path, audit_event: EventFactory) -> None:
    s = await SqliteAuditStore.open(tmp_path / "locked.db", busy_timeout=0.05)
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable, match="SQLITE_BUSY"):
            await s.write_batch([audit_event(1)], 0)
        other.execute("ROLLBACK")
        assert (await s.write_batch([audit_event(1)], 0)).inserted == 1
    finally:
        other.close()
        await s.close()


async def test_reopened_store_continues_the_chain(tmp_path: Path, audit_event: EventFactory) -> None:
    s1 = await SqliteAuditStore.open(tmp_path / "a.db")
    await s1.write_batch([audit_event(i) for i in range(3)], 0)
    await s1.close()
    s2 = await SqliteAuditStore.open(tmp_path / "a.db")
    assert (await s2.write_batch([audit_event(i) for i in range(5)], 0)).inserted == 2
    report = await s2.verify()
    await s2.close()
    assert report.ok and report.heads[0].seq == 5


async def test_audit_sink_acks_tokens_after_the_store_commits(
        store: SqliteAuditStore, audit_event: EventFactory) -> None:
    acked: list[Any] = []

    async def on_ack(tokens: list[Any]) -> None:
        stored = {r.id for r in await rows_of(store)}
        assert all(audit_event(i % 20).id in stored for _, i in tokens)
        acked.extend(tokens)

    sink = AuditSink(store, BatchConfig(max_records=7, max_age_seconds=60), on_ack=on_ack)
    async with sink:
        for i in range(20):
            await sink.put(audit_event(i), partition=i % 2, token=("offset", i))
        await sink.put(audit_event(0), partition=0, token=("offset", 20))  # a replay
        await sink.flush()
    assert acked == [("offset", i) for i in range(21)]
    report = await store.verify()
    assert report.ok and report.rows == 20 and report.chains == 2


async def test_audit_sink_dead_letters_unstorable_records(
        store: SqliteAuditStore, audit_event: EventFactory) -> None:
    dead: list[Any] = []

    async def dead_letter(items: list[Any]) -> None:
        dead.extend(items)

    bad = audit_event(1)
    bad.occurred_at = "garbage"
    async with AuditSink(store, BatchConfig(), dead_letter=dead_letter) as sink:
        await sink.put(bad, partition=0)
        await sink.put(audit_event(2), partition=0)
        await sink.flush()
    assert [(item.envelope, "occurred_at" in reason) for item, reason in dead] == [(bad, True)]


def test_config_refuses_inline_dsns_and_names_missing_fields() -> None:
    with pytest.raises(ValidationError, match="secret reference"):
        AuditStoreConfig(kind="postgres", dsn="postgresql://u:hunter2@db/x")
    with pytest.raises(ValidationError, match="needs 'path'"):
        AuditStoreConfig(kind="sqlite")
    with pytest.raises(ValidationError, match="needs 'dsn'"):
        AuditStoreConfig(kind="postgres")


async def test_open_store_opens_sqlite_from_config(tmp_path: Path, audit_event: EventFactory) -> None:
    s = await open_audit_store(AuditStoreConfig(kind="sqlite", path=tmp_path / "cfg.db"))
    try:
        assert (await s.write_batch([audit_event(1)], 0)).inserted == 1
    finally:
        await s.close()


async def test_the_writer_takes_the_configured_cache_and_checkpoint(tmp_path: Path) -> None:
    s = await open_audit_store(AuditStoreConfig(kind="sqlite", path=tmp_path / "tuned.db", sqlite_cache_mib=32,
                                                sqlite_checkpoint_pages=5000))
    assert isinstance(s, SqliteAuditStore)
    try:
        cache, pages = await s._run(lambda: (s._con.execute("PRAGMA cache_size").fetchone()[0],
                                             s._con.execute("PRAGMA wal_autocheckpoint").fetchone()[0]))
        assert (cache, pages) == (-32 * 1024, 5000)
    finally:
        await s.close()
    with pytest.raises(ValidationError, match="sqlite_cache_mib"):
        AuditStoreConfig(kind="sqlite", path=tmp_path / "x.db", sqlite_cache_mib=0)


def test_parse_time_accepts_relative_dates_and_rfc3339() -> None:
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    assert parse_time("24h", now=now) == datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert parse_time("7d", now=now) == datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert parse_time("2026-11-05") == datetime(2026, 11, 5, tzinfo=UTC)
    assert parse_time("2026-11-05T10:00:00+08:00") == datetime(2026, 11, 5, 2, tzinfo=UTC)


def _seed_cli_db(path: Path, audit_event: EventFactory) -> list[Any]:
    events = [audit_event(1, user="alice@example.com", ip="10.0.0.5"),
              audit_event(2, user="bob@example.com", ip="10.9.0.1", dataset="exmail.mail_log", action="mail-send",
                          occurred="2026-11-06T09:30:00.250Z")]

    async def seed() -> None:
        s = await SqliteAuditStore.open(path)
        await s.write_batch(events, 0)
        await s.close()

    asyncio.run(seed())
    return events


def test_cli_query_table_and_jsonl(tmp_path: Path, audit_event: EventFactory) -> None:
    db = tmp_path / "cli.db"
    events = _seed_cli_db(db, audit_event)
    runner = CliRunner()
    res = runner.invoke(pipeline_main, ["audit", "query", "--db", str(db)])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["occurred_at", "corp", "kind", "action", "user", "source_ip", "outcome", "id"]
    assert lines[1].split() == ["2026-11-05T10:00:00.000Z", "corp1", "exmail.login_log", "login",
                                "alice@example.com", "10.0.0.5", "success", events[0].id]
    assert lines[2].split()[0] == "2026-11-06T09:30:00.250Z" and len(lines) == 3

    res = runner.invoke(pipeline_main, ["audit", "query", "--db", str(db), "--format", "jsonl", "--kind",
                                        "exmail.mail_log", "--ip", "10.9.0.0/16", "--since", "2026-11-06"])
    assert res.exit_code == 0, res.output
    (line,) = res.stdout.splitlines()
    doc = orjson.loads(line)
    assert doc["id"] == events[1].id and doc["user"] == "bob@example.com" and doc["chain"]["seq"] == 2
    assert doc["envelope"] == events[1].to_dict()

    res = runner.invoke(pipeline_main, ["audit", "query", "--db", str(db), "--format", "jsonl", "--user", "nobody"])
    assert res.exit_code == 0 and res.stdout == ""


def test_cli_verify_reports_ok_then_the_first_break(tmp_path: Path, audit_event: EventFactory) -> None:
    db = tmp_path / "cli.db"
    events = _seed_cli_db(db, audit_event)
    runner = CliRunner()
    res = runner.invoke(pipeline_main, ["audit", "verify", "--db", str(db)])
    assert res.exit_code == 0 and "OK: 1 chains, 2 rows" in res.output
    with sqlite3.connect(db) as con:
        con.execute("UPDATE audit_records SET record = replace(record, 'bob@', 'eve@') WHERE seq = 2")
    res = runner.invoke(pipeline_main, ["audit", "verify", "--db", str(db)])
    assert res.exit_code == 1
    assert f"first break: corp corp1 chain 0 seq 2 id {events[1].id}" in res.output
    res = runner.invoke(pipeline_main, ["audit", "verify", "--db", str(db), "--format", "json"])
    assert res.exit_code == 1
    assert orjson.loads(res.stdout)["first_break"]["seq"] == 2


def test_cli_needs_exactly_one_store(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(pipeline_main, ["audit", "query"], env={"EXMAIL_AUDIT_DB": None, "EXMAIL_AUDIT_DSN": None})
    assert res.exit_code == 2 and "exactly one of --db" in res.output
    res = runner.invoke(pipeline_main, ["audit", "verify", "--db", str(tmp_path / "missing.db")])
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(pipeline_main, ["audit", "query", "--db", str(tmp_path / "x.db"), "--since", "soon"])
    assert res.exit_code == 2 and "24h" in res.output
