"""The production audit store: PostgreSQL, partitioned by month, written in batches through psycopg 3.

Uniqueness by id on a partitioned table: PostgreSQL only enforces unique constraints that contain the
partition key, so `audit_records` (partitioned by RANGE on `occurred_at`, one partition per UTC month plus a
default) has the primary key (id, occurred_at), and global uniqueness of `id` lives in a small unpartitioned
table `audit_ids (id PRIMARY KEY, occurred_at)`. A batch first claims its ids there with
`INSERT ... ON CONFLICT (id) DO NOTHING RETURNING id`; only the claimed rows get chain positions and are
written to `audit_records`, all in the same transaction. An event is stored once even if a replay carried a
different `occurred_at`, and `audit_ids` doubles as the id -> month lookup for point queries.

Each batch is one transaction: upsert + lock (FOR UPDATE, in corp order) the chain heads of the batch's
corps, claim ids, compute hashes, COPY the rows, advance the heads. Two writers on one chain (a partition
moving during a rebalance) serialise on the head row lock, so chains never fork.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC
from typing import Any, Literal

import orjson
import psycopg
from psycopg import sql

from pipeline.envelope import Envelope
from pipeline.secrets import scrub_text
from pipeline.sinks.audit._rows import (
    GENESIS,
    MAX_PARTITION_YEAR,
    MIN_PARTITION_YEAR,
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

WriteMethod = Literal["copy", "unnest"]
SCHEMA_VERSION = "1"
_PARTITION_NAME = re.compile(r"^audit_records_y(\d{4})m(\d{2})$")
_COLUMNS = ("id", "occurred_at", "corp_id", "chain_partition", "seq", "schema", "kind", "action", "user_name",
            "source_ip", "outcome", "source", "record", "prev_hash", "row_hash")
_ARRAY_TYPES = ("text", "timestamptz", "text", "int4", "int8", "text", "text", "text", "text", "inet", "text",
                "text", "text", "text", "text")


def _ddl(s: sql.Identifier) -> list[sql.Composed]:
    q = sql.SQL
    return [
        q("CREATE SCHEMA IF NOT EXISTS {s}").format(s=s),
        q("""CREATE TABLE IF NOT EXISTS {s}.audit_records (
                id text NOT NULL,
                occurred_at timestamptz NOT NULL,
                corp_id text NOT NULL,
                chain_partition integer NOT NULL,
                seq bigint NOT NULL,
                schema text NOT NULL,
                kind text NOT NULL,
                action text,
                user_name text,
                source_ip inet,
                outcome text,
                source text NOT NULL,
                record text NOT NULL,
                prev_hash text NOT NULL,
                row_hash text NOT NULL,
                PRIMARY KEY (id, occurred_at)
            ) PARTITION BY RANGE (occurred_at)""").format(s=s),
        q("CREATE TABLE IF NOT EXISTS {s}.audit_records_default PARTITION OF {s}.audit_records DEFAULT").format(s=s),
        q("CREATE INDEX IF NOT EXISTS audit_records_time_idx ON {s}.audit_records (occurred_at)").format(s=s),
        q("CREATE INDEX IF NOT EXISTS audit_records_user_idx ON {s}.audit_records (user_name, occurred_at)"
          ).format(s=s),
        q("CREATE INDEX IF NOT EXISTS audit_records_kind_idx ON {s}.audit_records (kind, occurred_at)").format(s=s),
        q("CREATE INDEX IF NOT EXISTS audit_records_ip_idx ON {s}.audit_records (source_ip, occurred_at)"
          ).format(s=s),
        q("CREATE INDEX IF NOT EXISTS audit_records_chain_idx ON {s}.audit_records (corp_id, chain_partition, seq)"
          ).format(s=s),
        q("""CREATE TABLE IF NOT EXISTS {s}.audit_ids (
                id text PRIMARY KEY,
                occurred_at timestamptz NOT NULL
            )""").format(s=s),
        q("""CREATE TABLE IF NOT EXISTS {s}.audit_chain_heads (
                corp_id text NOT NULL,
                chain_partition integer NOT NULL,
                seq bigint NOT NULL,
                head_hash text NOT NULL,
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (corp_id, chain_partition)
            )""").format(s=s),
        q("CREATE TABLE IF NOT EXISTS {s}.audit_meta (key text PRIMARY KEY, value text NOT NULL)").format(s=s),
        q("INSERT INTO {s}.audit_meta (key, value) VALUES ('schema_version', {v}) ON CONFLICT DO NOTHING").format(
            s=s, v=sql.Literal(SCHEMA_VERSION)),
    ]


def _month_bounds(year: int, month: int) -> tuple[str, str]:
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}-01 00:00:00+00", f"{nxt[0]:04d}-{nxt[1]:02d}-01 00:00:00+00"


def _like_pattern(glob: str) -> str:
    escaped = glob.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%")


def _unavailable(exc: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"PostgreSQL audit store unavailable: {scrub_text(str(exc)).strip()}")


class PostgresAuditStore:
    """Audit store in one PostgreSQL schema. Create with `await PostgresAuditStore.open(dsn, schema=...)`.

    Holds one connection for writes; `query` and `verify` use their own short-lived connections. A lost
    connection makes the current call raise StoreUnavailable and the next call reconnect."""

    def __init__(self, dsn: str, *, schema: str = "public", write_method: WriteMethod = "copy",
                 connect_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self.schema = schema
        self.write_method: WriteMethod = write_method
        self._connect_timeout = max(2, int(connect_timeout))
        self._s = sql.Identifier(schema)
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._partitions: set[tuple[int, int]] = set()
        self._ready = False
        self._lock = asyncio.Lock()
        self._lock_key = f"exmail-audit:{schema}"
        self.application_name = f"exmail-audit/{schema}"[:63]

    def __repr__(self) -> str:
        return f"PostgresAuditStore(schema={self.schema!r}, write_method={self.write_method!r})"

    @classmethod
    async def open(cls, dsn: str, *, schema: str = "public", write_method: WriteMethod = "copy",
                   connect_timeout: float = 5.0) -> PostgresAuditStore:
        """Connect and create the schema if needed. Raises StoreUnavailable when PostgreSQL is away."""
        store = cls(dsn, schema=schema, write_method=write_method, connect_timeout=connect_timeout)
        async with store._lock:
            await store._writer()
        return store

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(
                self._dsn, autocommit=True, connect_timeout=self._connect_timeout,
                application_name=self.application_name)
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from None
        except psycopg.ProgrammingError:
            raise AuditStoreError("the PostgreSQL DSN is malformed (its text is not shown: it may hold a password)"
                                  ) from None

    async def _writer(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        self._conn = None
        conn = await self._connect()
        try:
            if not self._ready:
                await self._create_schema(conn)
            await self._load_partitions(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn
        return conn

    async def _create_schema(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self._lock_key])
                for stmt in _ddl(self._s):
                    await conn.execute(stmt)
                cur = await conn.execute(sql.SQL("SELECT value FROM {s}.audit_meta WHERE key = 'schema_version'")
                                         .format(s=self._s))
                row = await cur.fetchone()
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise _unavailable(exc) from None
        except psycopg.Error as exc:
            raise AuditStoreError(f"cannot create the audit schema {self.schema!r}: {exc}") from None
        if row is None or row[0] != SCHEMA_VERSION:
            raise AuditStoreError(f"schema {self.schema!r} has audit schema version {row and row[0]};"
                                  f" this build writes {SCHEMA_VERSION}")
        self._ready = True

    async def _load_partitions(self, conn: psycopg.AsyncConnection[Any]) -> None:
        try:
            cur = await conn.execute(
                """SELECT c.relname FROM pg_inherits i
                   JOIN pg_class c ON c.oid = i.inhrelid
                   JOIN pg_class p ON p.oid = i.inhparent
                   JOIN pg_namespace n ON n.oid = p.relnamespace
                   WHERE n.nspname = %s AND p.relname = 'audit_records'""", [self.schema])
            names = [r[0] for r in await cur.fetchall()]
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise _unavailable(exc) from None
        for name in names:
            m = _PARTITION_NAME.match(name)
            if m:
                self._partitions.add((int(m.group(1)), int(m.group(2))))

    async def _ensure_partitions(self, conn: psycopg.AsyncConnection[Any], months: set[tuple[int, int]]) -> None:
        missing = sorted(m for m in months if m not in self._partitions
                         and MIN_PARTITION_YEAR <= m[0] <= MAX_PARTITION_YEAR)
        if not missing:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [self._lock_key])
            for year, month in missing:
                start, end = _month_bounds(year, month)
                await conn.execute(sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {s}.{p} PARTITION OF {s}.audit_records FOR VALUES FROM ({a}) TO ({b})"
                ).format(s=self._s, p=sql.Identifier(f"audit_records_y{year:04d}m{month:02d}"),
                         a=sql.Literal(start), b=sql.Literal(end)))
        self._partitions.update(missing)

    async def write_batch(self, envelopes: Sequence[Envelope], chain_partition: int) -> WriteResult:
        return await self.write_chains({chain_partition: envelopes})

    async def write_chains(self, parts: Mapping[int, Sequence[StoreInput]]) -> WriteResult:
        chains, repeats, rejected = prepare_chains(parts)
        rows = sum(len(r) for _, r in chains)
        inserted = 0
        if chains:
            async with self._lock:
                try:
                    conn = await self._writer()
                    await self._ensure_partitions(conn, {r.month for _, part in chains for r in part})
                    inserted = await self._write(conn, chains)
                except (psycopg.OperationalError, psycopg.InterfaceError,
                        psycopg.errors.TransactionRollback) as exc:
                    if self._conn is not None and self._conn.closed:
                        self._conn = None
                    raise _unavailable(exc) from None
                except psycopg.Error as exc:
                    raise AuditStoreError(f"audit batch refused by PostgreSQL: {scrub_text(str(exc))}") from None
        return WriteResult(inserted=inserted, duplicates=rows - inserted + repeats, rejected=tuple(rejected))

    async def _write(self, conn: psycopg.AsyncConnection[Any], chains: list[tuple[int, list[PreparedRow]]]) -> int:
        """One transaction for the whole batch: lock the chain heads it extends (in a fixed order, so two
        writers never deadlock), claim the ids (ON CONFLICT DO NOTHING RETURNING: no pre-SELECT), chain and
        COPY the claimed rows, advance the heads."""
        s = self._s
        pairs = sorted({(r.corp_id, p) for p, rows in chains for r in rows})
        corps, parts = [c for c, _ in pairs], [p for _, p in pairs]
        async with conn.transaction(), conn.cursor() as cur:
            await cur.execute(sql.SQL(
                "INSERT INTO {s}.audit_chain_heads (corp_id, chain_partition, seq, head_hash)"
                " SELECT c, p, 0, %s FROM unnest(%s::text[], %s::int4[]) AS v(c, p) ON CONFLICT DO NOTHING"
            ).format(s=s), [GENESIS, corps, parts])
            await cur.execute(sql.SQL(
                "SELECT h.corp_id, h.chain_partition, h.seq, h.head_hash FROM {s}.audit_chain_heads h"
                " JOIN unnest(%s::text[], %s::int4[]) AS v(c, p) ON h.corp_id = v.c AND h.chain_partition = v.p"
                " ORDER BY h.corp_id, h.chain_partition FOR UPDATE OF h").format(s=s), [corps, parts])
            heads: dict[int, dict[str, tuple[int, str]]] = {}
            for c, p, q, h in await cur.fetchall():
                heads.setdefault(p, {})[c] = (int(q), h)
            every = [r for _, rows in chains for r in rows]
            await cur.execute(sql.SQL(
                "INSERT INTO {s}.audit_ids (id, occurred_at)"
                " SELECT * FROM unnest(%s::text[], %s::timestamptz[]) ON CONFLICT (id) DO NOTHING RETURNING id"
            ).format(s=s), [[r.id for r in every], [r.occurred_at for r in every]])
            claimed = {r[0] for r in await cur.fetchall()}
            if not claimed:
                return 0
            chained: list[ChainedRow] = []
            for p, rows in chains:
                fresh = [r for r in rows if r.id in claimed]
                if fresh:
                    chained.extend(chain_rows(fresh, p, heads.setdefault(p, {})))
            if self.write_method == "copy":
                await self._copy_rows(cur, chained)
            else:
                await self._insert_rows(cur, chained)
            moved = sorted({(c.row.corp_id, c.chain_partition) for c in chained})
            await cur.execute(sql.SQL(
                "UPDATE {s}.audit_chain_heads AS h SET seq = v.seq, head_hash = v.head_hash, updated_at = now()"
                " FROM unnest(%s::text[], %s::int4[], %s::int8[], %s::text[]) AS v(corp_id, p, seq, head_hash)"
                " WHERE h.chain_partition = v.p AND h.corp_id = v.corp_id").format(s=s),
                [[c for c, _ in moved], [p for _, p in moved], [heads[p][c][0] for c, p in moved],
                 [heads[p][c][1] for c, p in moved]])
        return len(chained)

    @staticmethod
    def _values(c: ChainedRow) -> tuple[Any, ...]:
        r = c.row
        return (r.id, r.occurred_at, r.corp_id, c.chain_partition, c.seq, r.schema, r.kind, r.action, r.user,
                r.source_ip, r.outcome, r.source, r.record, c.prev_hash, c.row_hash)

    async def _copy_rows(self, cur: psycopg.AsyncCursor[Any], chained: list[ChainedRow]) -> None:
        stmt = sql.SQL("COPY {s}.audit_records ({cols}) FROM STDIN").format(
            s=self._s, cols=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)))
        async with cur.copy(stmt) as copy:
            for c in chained:
                await copy.write_row(self._values(c))

    async def _insert_rows(self, cur: psycopg.AsyncCursor[Any], chained: list[ChainedRow]) -> None:
        columns = list(zip(*(self._values(c) for c in chained), strict=True))
        stmt = sql.SQL("INSERT INTO {s}.audit_records ({cols}) SELECT * FROM unnest({arrays})").format(
            s=self._s, cols=sql.SQL(", ").join(map(sql.Identifier, _COLUMNS)),
            arrays=sql.SQL(", ").join(sql.SQL("%s::{}[]").format(sql.SQL(t)) for t in _ARRAY_TYPES))
        await cur.execute(stmt, [list(col) for col in columns])

    def _where(self, filters: AuditQuery) -> tuple[sql.Composable, list[Any]]:
        clauses: list[sql.Composable] = []
        params: list[Any] = []

        def add(clause: str, value: Any) -> None:
            clauses.append(sql.SQL(clause))
            params.append(value)

        if filters.user is not None:
            add("user_name = %s", filters.user)
        if filters.kind is not None:
            if "*" in filters.kind:
                add("kind LIKE %s", _like_pattern(filters.kind))
            else:
                add("kind = %s", filters.kind)
        if filters.action is not None:
            add("action = %s", filters.action)
        if filters.corp_id is not None:
            add("corp_id = %s", filters.corp_id)
        if filters.since is not None:
            add("occurred_at >= %s", filters.since)
        if filters.until is not None:
            add("occurred_at < %s", filters.until)
        net = filters.ip_network
        if net is not None:
            if net.num_addresses == 1:
                add("source_ip = %s::inet", str(net.network_address))
            else:
                add("source_ip <<= %s::inet", str(net))
        if not clauses:
            return sql.SQL(""), params
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params

    async def query(self, filters: AuditQuery) -> AsyncIterator[AuditRow]:
        where, params = self._where(filters)
        order = sql.SQL("DESC" if filters.newest_first else "ASC")
        stmt = sql.SQL(
            "SELECT id, occurred_at, corp_id, chain_partition, seq, schema, kind, action, user_name,"
            " host(source_ip), outcome, source, record, prev_hash, row_hash"
            " FROM {s}.audit_records{where} ORDER BY occurred_at {o}, id {o}").format(s=self._s, where=where, o=order)
        if filters.limit is not None:
            stmt = stmt + sql.SQL(" LIMIT %s")
            params.append(filters.limit)
        conn = await self._connect()
        try:
            async with conn.transaction(), conn.cursor(name="audit_query") as cur:
                cur.itersize = 500
                await cur.execute(stmt, params)
                async for r in cur:
                    yield AuditRow(
                        id=r[0], occurred_at=r[1].astimezone(UTC), corp_id=r[2], chain_partition=r[3], seq=r[4],
                        schema=r[5], kind=r[6], action=r[7], user=r[8], source_ip=r[9], outcome=r[10],
                        source=r[11], envelope=orjson.loads(r[12]), prev_hash=r[13], row_hash=r[14])
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise _unavailable(exc) from None
        except psycopg.errors.UndefinedTable:
            raise AuditStoreError(f"no audit tables in schema {self.schema!r}") from None
        except psycopg.Error as exc:
            raise AuditStoreError(f"audit query failed: {scrub_text(str(exc))}") from None
        finally:
            await conn.close()

    async def _chain_rows(self, conn: psycopg.AsyncConnection[Any]) -> AsyncIterator[StoredChainRow]:
        async with conn.cursor(name="audit_verify") as cur:
            cur.itersize = 2000
            await cur.execute(sql.SQL(
                "SELECT corp_id, chain_partition, seq, id, occurred_at, schema, kind, action, user_name,"
                " host(source_ip), outcome, source, record, prev_hash, row_hash"
                " FROM {s}.audit_records ORDER BY corp_id, chain_partition, seq").format(s=self._s))
            async for r in cur:
                yield StoredChainRow(
                    corp_id=r[0], chain_partition=r[1], seq=r[2], id=r[3], occurred=occurred_text(r[4]),
                    schema=r[5], kind=r[6], action=r[7], user=r[8], source_ip=r[9], outcome=r[10], source=r[11],
                    record=r[12], prev_hash=r[13], row_hash=r[14])

    async def verify(self) -> VerifyReport:
        conn = await self._connect()
        try:
            await conn.set_isolation_level(psycopg.IsolationLevel.REPEATABLE_READ)
            await conn.set_read_only(True)
            async with conn.transaction():
                cur = await conn.execute(sql.SQL(
                    "SELECT corp_id, chain_partition, seq, head_hash FROM {s}.audit_chain_heads").format(s=self._s))
                heads = {(c, p): (int(q), h) for c, p, q, h in await cur.fetchall()}
                return await walk_chains(self._chain_rows(conn), heads)
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise _unavailable(exc) from None
        except psycopg.errors.UndefinedTable:
            raise AuditStoreError(f"no audit tables in schema {self.schema!r}") from None
        except psycopg.Error as exc:
            raise AuditStoreError(f"audit verify failed: {scrub_text(str(exc))}") from None
        finally:
            await conn.close()

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def partitions(self) -> list[str]:
        """Names of the month partitions that exist (for operators and tests)."""
        conn = await self._connect()
        try:
            cur = await conn.execute(
                """SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                   JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace
                   WHERE n.nspname = %s AND p.relname = 'audit_records' ORDER BY 1""", [self.schema])
            return [r[0] for r in await cur.fetchall()]
        finally:
            await conn.close()
