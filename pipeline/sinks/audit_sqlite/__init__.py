"""SQLite audit store (embedded default for the demo and small installs): same schema and semantics."""

from pipeline.sinks.audit_sqlite.store import SqliteAuditStore

__all__ = ["SqliteAuditStore"]
