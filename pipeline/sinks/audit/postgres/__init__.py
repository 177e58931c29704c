"""PostgreSQL audit store (production): monthly partitions, batched COPY, idempotent by id, hash-chained."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.secrets import resolve_secret
from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.audit.postgres.store import PostgresAuditStore


async def open_configured(config: AuditStoreConfig, *,
                          resolve: Callable[[str], str] = resolve_secret) -> PostgresAuditStore:
    """`worker.audit` with `kind: postgres`: the DSN reference is resolved here, at open, never stored."""
    assert config.dsn is not None
    return await PostgresAuditStore.open(resolve(config.dsn), schema=config.pg_schema,
                                         write_method=config.write_method,
                                         connect_timeout=config.connect_timeout_seconds)


SINK = SinkSpec("postgres", "audit", AuditStoreConfig, open_configured, "PostgreSQL audit store (production)")

__all__ = ["SINK", "PostgresAuditStore", "open_configured"]
