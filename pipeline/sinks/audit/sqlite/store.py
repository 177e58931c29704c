"""The embedded audit store: SQLite (stdlib) in WAL mode, same columns, ids, chains and queries as PostgreSQL.

SQLite is synchronous and its connections belong to one thread, so every call runs on the store's own
single worker thread; the event loop never blocks on disk. `synchronous=FULL` is deliberate: in WAL mode NORMAL
skips the fsync at commit, so a power loss could drop the last batches after the worker committed their Kafka
offsets, i.e. lose audit records for good. FULL costs one fsync per batch (one batch = one transaction of up
to `worker.consume.max_records` rows), which the batch path amortises. Uniqueness is the table's primary
key (no partitions here); the chain index is unique as well.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from pipeline.envelope import Envelope, parse_iso
from pipeline.sinks.audit._rows import (
    ChainedRow,
    PreparedRow,
    StoredChainRow,
    StoreInput,
    chain_rows,
    occurred_text,
    prepare_chains,
    walk_chains,
)
from pipeline.sinks.audit.store import (
    AuditQuery,
    AuditRow,
    AuditStoreError,
    StoreUnavailable,
    VerifyReport,
    WriteResult,
)

R = TypeVar("R")

SCHEMA_VERSION = "1"
_DDL = """
CREATE TABLE IF NOT EXISTS audit_records (
    id TEXT NOT NULL PRIMARY KEY,
    occurred_at TEXT NOT NULL,
    corp_id TEXT NOT NULL,
    chain_partition INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    schema TEXT NOT NULL,
    kind TEXT NOT NULL,
    action TEXT,
    user_name TEXT,
    source_ip TEXT,
    outcome TEXT,
    source TEXT NOT NULL,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_records_time_idx ON audit_records (occurred_at);
CREATE INDEX IF NOT EXISTS audit_records_user_idx ON audit_records (user_name, occurred_at);
CREATE INDEX IF NOT EXISTS audit_records_kind_idx ON audit_records (kind, occurred_at);
CREATE INDEX IF NOT EXISTS audit_records_ip_idx ON audit_records (source_ip, occurred_at);
CREATE UNIQUE INDEX IF NOT EXISTS audit_records_chain_idx ON audit_records (corp_id, chain_partition, seq);
CREATE TABLE IF NOT EXISTS audit_chain_heads (
    corp_id TEXT NOT NULL,
    chain_partition INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    head_hash TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (corp_id, chain_partition)
);
CREATE TABLE IF NOT EXISTS audit_meta (key TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL);
"""
_COLUMNS = ("id, occurred_at, corp_id, chain_partition, seq, schema, kind, action, user_name, source_ip, outcome, "
            "source, record, prev_hash, row_hash")
_INSERT = f"INSERT INTO audit_records ({_COLUMNS}) VALUES ({', '.join('?' * 15)})"
_INSERT_NEW = _INSERT + " ON CONFLICT (id) DO NOTHING"
_UPSERT_HEAD = (
    "INSERT INTO audit_chain_heads (corp_id, chain_partition, seq, head_hash, updated_at) VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (corp_id, chain_partition) DO UPDATE"
    " SET seq = excluded.seq, head_hash = excluded.head_hash, updated_at = excluded.updated_at")
_CHUNK = 500
# Writer tuning (ops/bench/sqlite_writer.py: rows of 2.3 KB, batches of 2,000, the five indexes below): SQLite's
# defaults (2 MiB cache, a checkpoint every 1,000 pages) cost the writer 41.5 / 63.1 us of CPU per row at 50,000 /
# 200,000 rows, these settings 31.4 / 49.4 (0.76-0.78x).
DEFAULT_CACHE_MIB = 64
DEFAULT_CHECKPOINT_PAGES = 10_000


def _ip_in(ip: str | None, network: str) -> bool:
    if ip is None:
        return False
    try:
        return ipaddress.ip_address(ip) in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False


def _glob_literal(text: str) -> str:
    """Escape GLOB metacharacters except `*`, which is the one wildcard our filters offer."""
    return "".join(f"[{c}]" if c in "?[]" else c for c in text)


def _row_values(c: ChainedRow) -> tuple[Any, ...]:
    r = c.row
    return (r.id, r.occurred_text, r.corp_id, c.chain_partition, c.seq, r.schema, r.kind, r.action, r.user,
            r.source_ip, r.outcome, r.source, r.record, c.prev_hash, c.row_hash)


# Conditions that clear up by themselves (another writer, a full or flaky disk being fixed): retry them.
_TRANSIENT = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CANTOPEN", "SQLITE_PROTOCOL")


def _store_errors(fn: Callable[..., R]) -> Callable[..., R]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> R:
        try:
            return fn(*args, **kwargs)
        except sqlite3.Error as exc:
            name = getattr(exc, "sqlite_errorname", "") or ""
            if name.startswith(_TRANSIENT):
                raise StoreUnavailable(f"SQLite audit store unavailable: {exc} ({name})") from exc
            raise AuditStoreError(f"SQLite audit store error: {exc}") from exc
    return wrapper


class SqliteAuditStore:
    """Audit store in one SQLite file. Create with `await SqliteAuditStore.open(path)`."""

    def __init__(self, path: Path, executor: ThreadPoolExecutor, con: sqlite3.Connection) -> None:
        self.path = path
        self._executor = executor
        self._con = con

    def __repr__(self) -> str:
        return f"SqliteAuditStore(path={str(self.path)!r})"

    @classmethod
    async def open(cls, path: str | Path, *, busy_timeout: float = 10.0, cache_mib: int = DEFAULT_CACHE_MIB,
                   checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES) -> SqliteAuditStore:
        """Open (creating file and schema if needed). `busy_timeout`: how long a write waits for another
        process's lock before StoreUnavailable; `cache_mib` and `checkpoint_pages`: the writer's page cache and
        WAL auto-checkpoint (AuditStoreConfig.sqlite_cache_mib / sqlite_checkpoint_pages say why)."""
        path = Path(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-sqlite")
        loop = asyncio.get_running_loop()
        try:
            con = await loop.run_in_executor(executor, cls._connect_writer, path, busy_timeout, cache_mib,
                                             checkpoint_pages)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(path, executor, con)

    @staticmethod
    @_store_errors
    def _connect_writer(path: Path, busy_timeout: float, cache_mib: int = DEFAULT_CACHE_MIB,
                        checkpoint_pages: int = DEFAULT_CHECKPOINT_PAGES) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute(f"PRAGMA cache_size=-{int(cache_mib) * 1024}")  # negative: KiB, not pages
        con.execute(f"PRAGMA wal_autocheckpoint={int(checkpoint_pages)}")
        con.executescript(_DDL)
        con.execute("INSERT OR IGNORE INTO audit_meta (key, value) VALUES ('schema_version', ?)", (SCHEMA_VERSION,))
        version = con.execute("SELECT value FROM audit_meta WHERE key = 'schema_version'").fetchone()[0]
        if version != SCHEMA_VERSION:
            con.close()
            raise AuditStoreError(f"{path} has audit schema version {version}; this build reads {SCHEMA_VERSION}")
        return con

    async def _run(self, fn: Callable[..., R], *args: Any) -> R:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def write_batch(self, envelopes: Sequence[Envelope], chain_partition: int) -> WriteResult:
        return await self.write_chains({chain_partition: envelopes})

    async def write_chains(self, parts: Mapping[int, Sequence[StoreInput]]) -> WriteResult:
        chains, repeats, rejected = prepare_chains(parts)
        rows = sum(len(r) for _, r in chains)
        inserted = 0 if not chains else await self._run(self._write, chains)
        return WriteResult(inserted=inserted, duplicates=rows - inserted + repeats, rejected=tuple(rejected))

    def _heads(self, chain_partition: int, corps: list[str]) -> dict[str, tuple[int, str]]:
        heads: dict[str, tuple[int, str]] = {}
        for i in range(0, len(corps), _CHUNK):
            chunk = corps[i:i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            for corp, seq, digest in self._con.execute(
                    "SELECT corp_id, seq, head_hash FROM audit_chain_heads"
                    f" WHERE chain_partition = ? AND corp_id IN ({marks})", [chain_partition, *chunk]):
                heads[corp] = (seq, digest)
        return heads

    def _stored_ids(self, ids: list[str]) -> set[str]:
        existing: set[str] = set()
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i:i + _CHUNK]
            marks = ", ".join("?" * len(chunk))
            existing.update(x for (x,) in self._con.execute(
                f"SELECT id FROM audit_records WHERE id IN ({marks})", chunk))
        return existing

    def _insert(self, chains: list[tuple[int, list[PreparedRow]]], plain: bool) -> tuple[int, list[tuple[Any, ...]]]:
        """Chain and insert every row; returns the rows the database took and the new heads."""
        con = self._con
        values: list[tuple[Any, ...]] = []
        head_rows: list[tuple[Any, ...]] = []
        now = occurred_text(datetime.now(UTC))
        for chain_partition, rows in chains:
            corps = sorted({r.corp_id for r in rows})
            heads = self._heads(chain_partition, corps)
            values.extend(_row_values(c) for c in chain_rows(rows, chain_partition, heads))
            head_rows.extend((corp, chain_partition, heads[corp][0], heads[corp][1], now) for corp in corps)
        before = con.total_changes
        con.executemany(_INSERT if plain else _INSERT_NEW, values)
        return con.total_changes - before, head_rows

    @_store_errors
    def _write(self, chains: list[tuple[int, list[PreparedRow]]]) -> int:
        """One transaction for the whole batch. The common case (no id stored before) inserts directly with ON
        CONFLICT DO NOTHING and no pre-SELECT; if the database skipped any row (a replay after a crash or a
        rebalance), the chained rows would have gaps, so that attempt is rolled back and the batch is chained
        again without the stored ids."""
        con = self._con
        total = sum(len(r) for _, r in chains)
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute("SAVEPOINT fresh")
            taken, head_rows = self._insert(chains, plain=False)
            if taken != total:
                con.execute("ROLLBACK TO fresh")
                existing = self._stored_ids([r.id for _, rows in chains for r in rows])
                chains = [(p, kept) for p, rows in chains if (kept := [r for r in rows if r.id not in existing])]
                taken, head_rows = self._insert(chains, plain=True)
            con.execute("RELEASE fresh")
            con.executemany(_UPSERT_HEAD, head_rows)
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return taken

    @_store_errors
    def _connect_reader(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10.0)
        con.execute("PRAGMA query_only=ON")
        con.create_function("ip_in", 2, _ip_in, deterministic=True)
        return con

    @staticmethod
    def _where(filters: AuditQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if filters.user is not None:
            clauses.append("user_name = ?")
            params.append(filters.user)
        if filters.kind is not None:
            if "*" in filters.kind:
                clauses.append("kind GLOB ?")
                params.append(_glob_literal(filters.kind))
            else:
                clauses.append("kind = ?")
                params.append(filters.kind)
        if filters.action is not None:
            clauses.append("action = ?")
            params.append(filters.action)
        if filters.corp_id is not None:
            clauses.append("corp_id = ?")
            params.append(filters.corp_id)
        if filters.since is not None:
            clauses.append("occurred_at >= ?")
            params.append(occurred_text(filters.since))
        if filters.until is not None:
            clauses.append("occurred_at < ?")
            params.append(occurred_text(filters.until))
        net = filters.ip_network
        if net is not None:
            if net.num_addresses == 1:
                clauses.append("source_ip = ?")
                params.append(str(net.network_address))
            else:
                clauses.append("ip_in(source_ip, ?)")
                params.append(str(net))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    async def query(self, filters: AuditQuery) -> AsyncIterator[AuditRow]:
        where, params = self._where(filters)
        order = "DESC" if filters.newest_first else "ASC"
        sql = f"SELECT {_COLUMNS} FROM audit_records{where} ORDER BY occurred_at {order}, id {order}"
        if filters.limit is not None:
            sql += " LIMIT ?"
            params.append(filters.limit)
        con = await self._run(self._connect_reader)
        try:
            cur = await self._run(_store_errors(con.execute), sql, params)
            while rows := await self._run(_store_errors(cur.fetchmany), _CHUNK):
                for r in rows:
                    yield AuditRow(
                        id=r[0], occurred_at=parse_iso(r[1]), corp_id=r[2], chain_partition=r[3], seq=r[4],
                        schema=r[5], kind=r[6], action=r[7], user=r[8], source_ip=r[9], outcome=r[10],
                        source=r[11], envelope=orjson.loads(r[12]), prev_hash=r[13], row_hash=r[14])
        finally:
            await self._run(con.close)

    async def _chain_rows(self, con: sqlite3.Connection) -> AsyncIterator[StoredChainRow]:
        cur = await self._run(_store_errors(con.execute),
                              f"SELECT {_COLUMNS} FROM audit_records ORDER BY corp_id, chain_partition, seq")
        while rows := await self._run(_store_errors(cur.fetchmany), _CHUNK):
            for r in rows:
                yield StoredChainRow(
                    id=r[0], occurred=r[1], corp_id=r[2], chain_partition=r[3], seq=r[4], schema=r[5], kind=r[6],
                    action=r[7], user=r[8], source_ip=r[9], outcome=r[10], source=r[11], record=r[12],
                    prev_hash=r[13], row_hash=r[14])

    async def verify(self) -> VerifyReport:
        con = await self._run(self._connect_reader)
        try:
            await self._run(con.execute, "BEGIN")  # one snapshot for heads and rows
            head_rows = await self._run(
                _store_errors(lambda: con.execute(
                    "SELECT corp_id, chain_partition, seq, head_hash FROM audit_chain_heads").fetchall()))
            heads = {(c, p): (s, h) for c, p, s, h in head_rows}
            return await walk_chains(self._chain_rows(con), heads)
        finally:
            await self._run(con.close)

    async def close(self) -> None:
        try:
            await self._run(self._con.close)
        finally:
            self._executor.shutdown(wait=True)
