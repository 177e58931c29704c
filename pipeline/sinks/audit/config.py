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
