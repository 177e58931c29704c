"""Audit store configuration and the factory that opens the configured backend."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.secrets import SecretRef, resolve_secret
from pipeline.sinks._batching import BatchConfig
from pipeline.sinks.audit.store import AuditStore


class AuditStoreConfig(BaseModel):
    """`kind: sqlite` needs `path`; `kind: postgres` needs `dsn` as a secret reference ("env:NAME" or
    "file:/path"), never the DSN itself, since it carries the password."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["postgres", "sqlite"] = "sqlite"
    path: Path | None = Field(None, description="SQLite database file")
    dsn: SecretRef | None = Field(None, description="PostgreSQL DSN as a secret reference: env:NAME or file:/path")
    pg_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema")
    write_method: Literal["copy", "unnest"] = Field(
        "copy", description="PostgreSQL row transfer: COPY (measured faster) or a multi-row INSERT from arrays")
    connect_timeout_seconds: float = Field(5.0, gt=0)
    batch: BatchConfig = Field(
        default_factory=BatchConfig,
        description="retries (retry_*_seconds, max_attempts) of the store writes; in the worker one write is one "
                    "consumed batch (worker.consume.max_records) in one transaction")

    @model_validator(mode="after")
    def _backend_fields(self) -> AuditStoreConfig:
        if self.kind == "sqlite" and self.path is None:
            raise ValueError("audit store kind 'sqlite' needs 'path' (the database file)")
        if self.kind == "postgres" and self.dsn is None:
            raise ValueError("audit store kind 'postgres' needs 'dsn' (e.g. env:EXMAIL_AUDIT_DSN)")
        return self


async def open_store(config: AuditStoreConfig, *,
                     resolve: Callable[[str], str] = resolve_secret) -> AuditStore:
    """Open (and create if needed) the configured store."""
    if config.kind == "sqlite":
        from pipeline.sinks.audit_sqlite import SqliteAuditStore

        assert config.path is not None
        return await SqliteAuditStore.open(config.path)
    from pipeline.sinks.audit_postgres import PostgresAuditStore

    assert config.dsn is not None
    return await PostgresAuditStore.open(resolve(config.dsn), schema=config.pg_schema,
                                         write_method=config.write_method,
                                         connect_timeout=config.connect_timeout_seconds)
