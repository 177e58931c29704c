"""Audit store configuration (`worker.audit`); `kind` picks the backend (pipeline/sinks/audit/<kind>/), which the
sink registry opens: `pipeline.sinks.registry.open_audit_store`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.secrets import SecretRef
from pipeline.sinks._batching import BatchConfig


class AuditStoreConfig(BaseModel):
    """`kind: sqlite` needs `path`; `kind: postgres` needs `dsn` as a secret reference ("env:NAME" or
    "file:/path"), never the DSN itself, since it carries the password."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: Literal["postgres", "sqlite"] = "sqlite"
    path: Path | None = Field(None, description="SQLite database file")
    dsn: SecretRef | None = Field(None, description="PostgreSQL DSN as a secret reference: env:NAME or file:/path")
    pg_schema: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema")
    write_method: Literal["copy", "unnest"] = Field(
        "copy", description="PostgreSQL row transfer: COPY (measured faster) or a multi-row INSERT from arrays")
    connect_timeout_seconds: float = Field(5.0, gt=0)
    sqlite_cache_mib: int = Field(
        64, ge=2, le=4096,
        description="SQLite: page cache of the writer connection in MiB (SQLite's default is 2); the table's "
                    "indexes are updated on every insert and miss a small cache as the file grows")
    sqlite_checkpoint_pages: int = Field(
        10_000, ge=100, le=1_000_000,
        description="SQLite: WAL pages (4 KiB each) written before SQLite copies them into the database file "
                    "(SQLite's default is 1,000); fewer, larger checkpoints cost less per row")
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
