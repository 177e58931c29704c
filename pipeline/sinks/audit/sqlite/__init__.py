"""SQLite audit store (embedded default for the demo and small installs): same schema and semantics."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.secrets import resolve_secret
from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.audit.sqlite.store import SqliteAuditStore


async def open_configured(config: AuditStoreConfig, *,
                          resolve: Callable[[str], str] = resolve_secret) -> SqliteAuditStore:
    """`worker.audit` with `kind: sqlite` (its validator requires `path`)."""
    assert config.path is not None
    return await SqliteAuditStore.open(config.path, cache_mib=config.sqlite_cache_mib,
                                       checkpoint_pages=config.sqlite_checkpoint_pages)


SINK = SinkSpec("sqlite", "audit", AuditStoreConfig, open_configured, "embedded SQLite audit store")

__all__ = ["SINK", "SqliteAuditStore", "open_configured"]
