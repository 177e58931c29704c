"""PostgreSQL audit store (production): monthly partitions, batched COPY, idempotent by id, hash-chained."""

from pipeline.sinks.audit_postgres.store import PostgresAuditStore

__all__ = ["PostgresAuditStore"]
