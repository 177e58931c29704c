"""Audit rows: defensive extraction of index columns from ECS paths, and the hash chain walker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from datetime import UTC, datetime

import orjson
import pytest

from pipeline.envelope import Envelope
from pipeline.sinks.audit._rows import (
    GENESIS,
    MAX_COLUMN_CHARS,
    RecordError,
    StoredChainRow,
    chain_rows,
    prepare,
    prepare_batch,
    walk_chains,
)

EventFactory = Callable[..., Envelope]


def test_index_columns_come_from_ecs_paths(audit_event: EventFactory) -> None:
    row = prepare(audit_event(1, user="Bob@Example.com", ip="10.1.2.3", action="login", outcome="failure"))
    assert (row.user, row.kind, row.action, row.source_ip, row.outcome) == (
        "Bob@Example.com", "exmail.login_log", "login", "10.1.2.3", "failure")
    assert row.schema == "exmail.event/1"
    assert row.occurred_at == datetime(2026, 11, 5, 10, 0, tzinfo=UTC)
    assert orjson.loads(row.record)["id"] == row.id


def test_user_falls_back_to_user_name_and_kind_to_the_schema(audit_event: EventFactory) -> None:
    env = audit_event(2, user=None, user_name="operator1", schema="exmail.action/1")
    env.data["event"].pop("dataset")
    row = prepare(env)
    assert row.user == "operator1"
    assert row.kind == "exmail.action"


def test_odd_or_missing_fields_give_null_columns_not_errors(audit_event: EventFactory) -> None:
    env = audit_event(3)
    env.data["user"] = "not-an-object"
    env.data["source"] = {"ip": "not an ip"}
    env.data["event"] = {"dataset": ["exmail.mail_log"], "action": 42}
    row = prepare(env)
    assert (row.user, row.source_ip, row.action, row.kind) == (None, None, None, "exmail.mail_log")
    assert prepare(Envelope("exmail.event/1", "x1", "c", "s", "2026-11-05T10:00:00Z", {})).kind == "exmail.event"


def test_column_values_are_cleaned_and_capped(audit_event: EventFactory) -> None:
    row = prepare(audit_event(4, user="a\x00b" + "x" * 1000, ip="2001:0db8:0000::0001"))
    assert row.user is not None and "\x00" not in row.user and len(row.user) == MAX_COLUMN_CHARS
    assert row.source_ip == "2001:db8::1"


@pytest.mark.parametrize("occurred", ["yesterday", "2026-13-01T00:00:00Z"])
def test_unparseable_occurred_at_is_refused_with_a_reason(audit_event: EventFactory, occurred: str) -> None:
    env = audit_event(5)
    env.occurred_at = occurred
    with pytest.raises(RecordError, match="occurred_at"):
        prepare(env)
    rows, repeats, rejected = prepare_batch([env, audit_event(6)])
    assert len(rows) == 1 and repeats == 0
    assert rejected[0].envelope is env and "occurred_at" in rejected[0].reason


def test_naive_and_offset_times_are_normalised_to_utc(audit_event: EventFactory) -> None:
    env = audit_event(7)
    env.occurred_at = "2026-11-05T18:00:00+08:00"
    assert prepare(env).occurred_text == "2026-11-05T10:00:00.000000Z"
    env.occurred_at = "2026-11-05T10:00:00"
    assert prepare(env).occurred_text == "2026-11-05T10:00:00.000000Z"


def test_repeated_ids_in_one_batch_are_counted_once(audit_event: EventFactory) -> None:
    rows, repeats, _ = prepare_batch([audit_event(1), audit_event(1), audit_event(2)])
    assert [r.id for r in rows] == [audit_event(1).id, audit_event(2).id]
    assert repeats == 1


def test_chains_are_per_corp_and_start_at_genesis(audit_event: EventFactory) -> None:
    rows, _, _ = prepare_batch([audit_event(i, corp="a" if i % 2 else "b") for i in range(6)])
    heads: dict[str, tuple[int, str]] = {}
    chained = chain_rows(rows, 3, heads)
    a = [c for c in chained if c.row.corp_id == "a"]
    assert [c.seq for c in a] == [1, 2, 3]
    assert a[0].prev_hash == GENESIS and a[1].prev_hash == a[0].row_hash
    assert heads["a"] == (3, a[-1].row_hash)
    again = chain_rows(rows, 3, {})
    assert [c.row_hash for c in again] == [c.row_hash for c in chained]
    assert chain_rows(rows, 4, {})[0].row_hash != chained[0].row_hash  # the chain key is hashed too


def _stored(
        audit_event: EventFactory, n: int = 5) -> tuple[list[StoredChainRow], dict[tuple[str, int], tuple[int, str]]]:
    rows, _, _ = prepare_batch([audit_event(i) for i in range(n)])
    heads: dict[str, tuple[int, str]] = {}
    chained = chain_rows(rows, 0, heads)
    stored = [StoredChainRow(
        corp_id=c.row.corp_id, chain_partition=0, seq=c.seq, id=c.row.id, occurred=c.row.occurred_text,
        schema=c.row.schema, kind=c.row.kind, action=c.row.action, user=c.row.user, source_ip=c.row.source_ip,
        outcome=c.row.outcome, source=c.row.source, record=c.row.record, prev_hash=c.prev_hash,
        row_hash=c.row_hash) for c in chained]
    return stored, {("corp1", 0): heads["corp1"]}


async def _aiter(rows: list[StoredChainRow]) -> AsyncIterator[StoredChainRow]:
    for r in rows:
        yield r


async def test_walk_accepts_an_intact_chain(audit_event: EventFactory) -> None:
    rows, heads = _stored(audit_event)
    report = await walk_chains(_aiter(rows), heads)
    assert report.ok and report.rows == 5 and report.chains == 1
    assert report.heads[0].seq == 5


async def test_walk_reports_a_modified_row(audit_event: EventFactory) -> None:
    rows, heads = _stored(audit_event)
    rows[2] = replace(rows[2], user="mallory@example.com")
    report = await walk_chains(_aiter(rows), heads)
    assert report.first_break is not None
    assert (report.first_break.seq, report.first_break.id) == (3, rows[2].id)
    assert "modified" in report.first_break.reason


async def test_walk_reports_a_deleted_row_and_a_deleted_tail(audit_event: EventFactory) -> None:
    rows, heads = _stored(audit_event)
    report = await walk_chains(_aiter(rows[:1] + rows[2:]), heads)
    assert report.first_break is not None and report.first_break.seq == 3
    assert "missing seq 2..2" in report.first_break.reason
    report = await walk_chains(_aiter(rows[:3]), heads)
    assert report.first_break is not None and report.first_break.seq == 4
    assert "rows deleted" in report.first_break.reason


async def test_walk_reports_a_replaced_row_with_a_self_consistent_hash(audit_event: EventFactory) -> None:
    rows, heads = _stored(audit_event)
    forged = replace(rows[1], prev_hash=GENESIS)
    report = await walk_chains(_aiter([rows[0], forged, *rows[2:]]), heads)
    assert report.first_break is not None and report.first_break.seq == 2
    assert "prev_hash" in report.first_break.reason
