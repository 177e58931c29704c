"""PostgreSQL audit store against the real server: partitions, idempotency, chains, tamper detection, queries,
the CLI, and surviving a dropped connection."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg
import pytest
from click.testing import CliRunner

from pipeline.cli import main as pipeline_main
from pipeline.envelope import Envelope
from pipeline.metrics import REGISTRY
from pipeline.sinks._batching import BatchConfig
from pipeline.sinks.audit import AuditQuery, AuditSink, AuditStoreConfig, StoreUnavailable
from pipeline.sinks.audit.postgres import PostgresAuditStore
from pipeline.sinks.registry import open_audit_store

EventFactory = Callable[..., Envelope]

pytestmark = pytest.mark.integration


@pytest.fixture
async def store(
        postgres_dsn: str, pg_schema: str, request: pytest.FixtureRequest) -> AsyncIterator[PostgresAuditStore]:
    """A store in this module's schema; each test writes its own corp, so tests do not see each other's rows."""
    s = await PostgresAuditStore.open(postgres_dsn, schema=pg_schema)
    yield s
    await s.close()


def corp_of(request: pytest.FixtureRequest) -> str:
    return request.node.name[-40:]


async def rows_of(store: PostgresAuditStore, **filters: Any) -> list[Any]:
    return [r async for r in store.query(AuditQuery(**filters))]


def sql(dsn: str, statement: str, params: list[Any] | None = None) -> list[Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(statement, params)
        return cur.fetchall() if cur.description else []


async def test_same_batch_twice_stores_each_id_once(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest) -> None:
    corp = corp_of(request)
    batch = [audit_event(i, corp=corp) for i in range(50)]
    first = await store.write_batch(batch, 0)
    second = await store.write_batch([*batch, batch[0]], 0)
    assert (first.inserted, first.duplicates) == (50, 0)
    assert (second.inserted, second.duplicates) == (0, 51)
    rows = await rows_of(store, corp_id=corp)
    assert sorted(r.id for r in rows) == sorted(e.id for e in batch)
    assert sorted(r.seq for r in rows) == list(range(1, 51))


async def test_months_get_their_own_partitions_and_odd_years_the_default(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest,
        postgres_dsn: str, pg_schema: str) -> None:
    corp = corp_of(request)
    times = ["2025-12-31T23:59:59.999Z", "2026-01-01T00:00:00.000Z", "2026-02-15T08:00:00.000Z",
             "2026-01-01T07:59:59.000+08:00", "1900-01-01T00:00:00.000Z"]
    result = await store.write_batch([audit_event(i, corp=corp, occurred=t) for i, t in enumerate(times)], 0)
    assert result.inserted == 5
    names = await store.partitions()
    assert {"audit_records_y2025m12", "audit_records_y2026m01", "audit_records_y2026m02",
            "audit_records_default"} <= set(names)
    placed = dict(sql(postgres_dsn, f'SELECT tableoid::regclass::text, count(*) FROM "{pg_schema}".audit_records'
                                    " WHERE corp_id = %s GROUP BY 1", [corp]))
    assert placed == {f"{pg_schema}.audit_records_y2025m12": 2, f"{pg_schema}.audit_records_y2026m01": 1,
                      f"{pg_schema}.audit_records_y2026m02": 1, f"{pg_schema}.audit_records_default": 1}
    # a second store instance (another worker) sees the partitions and re-creates nothing
    other = await PostgresAuditStore.open(postgres_dsn, schema=pg_schema)
    try:
        again = await other.write_batch([audit_event(i, corp=corp, occurred=t) for i, t in enumerate(times)], 0)
    finally:
        await other.close()
    assert (again.inserted, again.duplicates) == (0, 5)


async def test_id_is_unique_across_partitions_even_if_occurred_at_differs(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest) -> None:
    corp = corp_of(request)
    env = audit_event(1, corp=corp, occurred="2026-03-01T00:00:00.000Z")
    moved = audit_event(1, corp=corp, occurred="2026-03-01T00:00:00.000Z")
    moved.occurred_at = "2026-04-01T00:00:00.000Z"  # same id, another month: still the same event
    assert (await store.write_batch([env], 0)).inserted == 1
    assert (await store.write_batch([moved], 0)).duplicates == 1
    assert len(await rows_of(store, corp_id=corp)) == 1


async def test_verify_then_tamper_with_sql_reports_the_first_break(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest,
        postgres_dsn: str, pg_schema: str) -> None:
    corp = corp_of(request)
    await store.write_batch([audit_event(i, corp=corp) for i in range(10)], 2)
    await store.write_batch([audit_event(100 + i, corp=corp) for i in range(5)], 3)
    report = await store.verify()
    assert report.ok, report.breaks
    assert {(h.chain_partition, h.seq) for h in report.heads if h.corp_id == corp} == {(2, 10), (3, 5)}

    (victim,) = sql(postgres_dsn, f'UPDATE "{pg_schema}".audit_records SET outcome = %s'
                                  " WHERE corp_id = %s AND chain_partition = 2 AND seq = 7 RETURNING id",
                    ["failure", corp])
    report = await store.verify()
    mine = [b for b in report.breaks if b.corp_id == corp]
    assert len(mine) == 1
    assert (mine[0].chain_partition, mine[0].seq, mine[0].id) == (2, 7, victim[0])
    assert "modified" in mine[0].reason
    assert any(h.corp_id == corp and h.chain_partition == 3 for h in report.heads)  # the other chain is intact

    sql(postgres_dsn, f'UPDATE "{pg_schema}".audit_records SET outcome = %s'
                      " WHERE corp_id = %s AND chain_partition = 2 AND seq = 7", ["success", corp])
    sql(postgres_dsn, f'DELETE FROM "{pg_schema}".audit_records WHERE corp_id = %s AND chain_partition = 3'
                      " AND seq = 5", [corp])
    mine = [b for b in (await store.verify()).breaks if b.corp_id == corp]
    assert [(b.chain_partition, b.seq) for b in mine] == [(3, 5)]
    assert "rows deleted" in mine[0].reason
    sql(postgres_dsn, f'DELETE FROM "{pg_schema}".audit_chain_heads WHERE corp_id = %s', [corp])
    sql(postgres_dsn, f'DELETE FROM "{pg_schema}".audit_records WHERE corp_id = %s', [corp])


async def test_duplicates_do_not_advance_the_chain_and_writers_serialise(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest, postgres_dsn: str,
        pg_schema: str) -> None:
    corp = corp_of(request)
    other = await PostgresAuditStore.open(postgres_dsn, schema=pg_schema, write_method="unnest")
    try:
        batches = [[audit_event(i, corp=corp) for i in range(k * 30, k * 30 + 60)] for k in range(6)]
        results = await asyncio.gather(*(s.write_batch(b, 5) for s, b in zip([store, other] * 3, batches,
                                                                             strict=True)))
    finally:
        await other.close()
    assert sum(r.inserted for r in results) == 210
    report = await store.verify()
    assert not [b for b in report.breaks if b.corp_id == corp]
    (head,) = [h for h in report.heads if h.corp_id == corp]
    assert head.seq == 210


async def test_copy_and_multirow_insert_produce_identical_rows(
        audit_event: EventFactory, request: pytest.FixtureRequest, postgres_dsn: str, pg_schema: str) -> None:
    corp = corp_of(request)
    a = await PostgresAuditStore.open(postgres_dsn, schema=pg_schema, write_method="copy")
    b = await PostgresAuditStore.open(postgres_dsn, schema=pg_schema, write_method="unnest")
    try:
        await a.write_batch([audit_event(i, corp=corp + "-a", ip="2001:db8::1" if i % 2 else None)
                             for i in range(10)], 0)
        await b.write_batch([audit_event(i, corp=corp + "-b", ip="2001:db8::1" if i % 2 else None)
                             for i in range(10)], 0)
        ra = sorted(await rows_of(a, corp_id=corp + "-a"), key=lambda r: r.seq)
        rb = sorted(await rows_of(b, corp_id=corp + "-b"), key=lambda r: r.seq)
    finally:
        await a.close()
        await b.close()
    assert [(r.user, r.source_ip, r.kind, r.occurred_at) for r in ra] == [
        (r.user, r.source_ip, r.kind, r.occurred_at) for r in rb]


async def test_query_filters(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest) -> None:
    corp = corp_of(request)
    await store.write_batch([
        audit_event(1, corp=corp, user="alice@example.com", ip="10.0.0.5", occurred="2026-11-01T08:00:00.000Z"),
        audit_event(2, corp=corp, user="bob@example.com", ip="10.0.1.7", occurred="2026-11-02T08:00:00.000Z",
                    dataset="exmail.mail_log", action="mail-send"),
        audit_event(3, corp=corp, user="alice@example.com", ip="192.168.1.1", occurred="2026-12-03T08:00:00.000Z",
                    dataset="exmail.operation_log", action="user-delete"),
        audit_event(4, corp=corp, user="carol@example.com", ip="2001:db8::7", occurred="2026-12-04T08:00:00.000Z"),
    ], 0)

    async def days(**f: Any) -> list[int]:
        return [int(r.envelope["data"]["@timestamp"][8:10]) for r in await rows_of(store, corp_id=corp, **f)]

    assert await days(user="alice@example.com") == [1, 3]
    assert await days(kind="exmail.mail_log") == [2]
    assert await days(kind="exmail.o*") == [3]
    assert await days(kind="exmail.%") == []  # % is literal, * is the wildcard
    assert await days(action="user-delete") == [3]
    assert await days(since=datetime(2026, 11, 2, tzinfo=UTC)) == [2, 3, 4]
    assert await days(until=datetime(2026, 11, 2, 8, tzinfo=UTC)) == [1]
    assert await days(ip="10.0.0.0/16") == [1, 2]
    assert await days(ip="10.0.1.7") == [2]
    assert await days(ip="2001:db8::/32") == [4]
    assert await days(limit=2, newest_first=True) == [4, 3]
    (row,) = await rows_of(store, corp_id=corp, ip="2001:db8::7")
    assert row.source_ip == "2001:db8::7" and row.envelope["data"]["user"]["email"] == "carol@example.com"


async def test_cli_against_postgres(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest,
        postgres_dsn: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    corp = corp_of(request)
    events = [audit_event(i, corp=corp, user=f"u{i}@example.com") for i in range(3)]
    await store.write_batch(events, 0)
    monkeypatch.setenv("TEST_AUDIT_DSN", postgres_dsn)
    runner = CliRunner()
    args = ["--dsn", "env:TEST_AUDIT_DSN", "--schema", pg_schema]

    def invoke(*extra: str) -> Any:
        return runner.invoke(pipeline_main, ["audit", *extra[:1], *args, *extra[1:]])

    res = await asyncio.to_thread(invoke, "query", "--corp", corp, "--user", "u1@example.com", "--format", "jsonl")
    assert res.exit_code == 0, res.output
    (doc,) = [orjson.loads(x) for x in res.stdout.splitlines()]
    assert doc["id"] == events[1].id and doc["chain"]["seq"] == 2
    res = await asyncio.to_thread(invoke, "query", "--corp", corp)
    lines = res.stdout.splitlines()
    assert res.exit_code == 0 and len(lines) == 4
    assert lines[0].startswith("occurred_at")
    assert sorted(x.split()[-1] for x in lines[1:]) == sorted(e.id for e in events)
    res = await asyncio.to_thread(invoke, "verify")
    assert res.exit_code == 0 and "OK:" in res.output
    bad = await asyncio.to_thread(runner.invoke, pipeline_main,
                                  ["audit", "verify", "--dsn", "postgresql://exmail:hunter2@127.0.0.1:1/x"])
    assert bad.exit_code == 3 and "unavailable" in bad.output and "hunter2" not in bad.output


async def test_write_after_pg_terminate_backend_raises_retriable_then_reconnects(
        store: PostgresAuditStore, audit_event: EventFactory, request: pytest.FixtureRequest,
        postgres_dsn: str) -> None:
    corp = corp_of(request)
    await store.write_batch([audit_event(i, corp=corp) for i in range(5)], 0)
    killed = sql(postgres_dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                               " WHERE application_name = %s", [store.application_name])
    assert any(k[0] for k in killed)
    later = [audit_event(i, corp=corp) for i in range(5, 10)]
    with pytest.raises(StoreUnavailable, match="unavailable"):
        await store.write_batch(later, 0)
    result = await store.write_batch(later, 0)
    assert result.inserted == 5
    assert len(await rows_of(store, corp_id=corp)) == 10


async def test_audit_sink_rides_out_a_dropped_connection(
        audit_event: EventFactory, request: pytest.FixtureRequest, postgres_dsn: str, pg_schema: str) -> None:
    corp = corp_of(request)
    store = await PostgresAuditStore.open(postgres_dsn, schema=pg_schema)
    acked: list[Any] = []

    async def on_ack(tokens: list[Any]) -> None:
        acked.extend(tokens)

    cfg = BatchConfig(max_records=20, max_age_seconds=60, retry_initial_seconds=0.01, retry_max_seconds=0.05)
    sink = AuditSink(store, cfg, name="audit_pg_test", on_ack=on_ack)
    try:
        async with sink:
            for i in range(40):
                await sink.put(audit_event(i, corp=corp), partition=i % 3, token=i)
            await sink.flush()
            killed = sql(postgres_dsn, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                                       " WHERE application_name = %s", [store.application_name])
            assert any(k[0] for k in killed)
            for i in range(40, 80):
                await sink.put(audit_event(i, corp=corp), partition=i % 3, token=i)
            await sink.flush()
    finally:
        await store.close()
    assert acked == list(range(80))
    retries = REGISTRY.get_sample_value("exmail_sink_retries_total",
                                        {"sink": "audit_pg_test", "reason": "store_unavailable"})
    assert retries is not None and retries >= 1
    check = await PostgresAuditStore.open(postgres_dsn, schema=pg_schema)
    try:
        assert len(await rows_of(check, corp_id=corp)) == 80
        assert not [b for b in (await check.verify()).breaks if b.corp_id == corp]
    finally:
        await check.close()


async def test_unreachable_server_is_a_retriable_error_without_the_password(pg_schema: str) -> None:
    with pytest.raises(StoreUnavailable) as info:
        await PostgresAuditStore.open("postgresql://exmail:hunter2@127.0.0.1:1/exmail", schema=pg_schema,
                                      connect_timeout=2)
    assert "hunter2" not in str(info.value)


async def test_open_store_resolves_the_dsn_reference(
        postgres_dsn: str, pg_schema: str, audit_event: EventFactory, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_AUDIT_DSN", postgres_dsn)
    cfg = AuditStoreConfig(kind="postgres", dsn="env:TEST_AUDIT_DSN", pg_schema=pg_schema)
    s = await open_audit_store(cfg)
    try:
        assert (await s.write_batch([audit_event(1, corp=corp_of(request))], 0)).inserted == 1
        assert "exmail:exmail" not in repr(s)
    finally:
        await s.close()
