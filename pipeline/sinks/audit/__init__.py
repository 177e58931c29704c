"""Audit storage: the store contract, its configuration and factory, and the batching sink in front of it.

Backends live beside this package: pipeline.sinks.audit_postgres (production) and
pipeline.sinks.audit_sqlite (embedded default). The `pipeline audit` CLI is in pipeline.sinks.audit.cli.
"""

from pipeline.sinks.audit._index import index_envelope
from pipeline.sinks.audit.config import AuditStoreConfig, open_store
from pipeline.sinks.audit.sink import AuditItem, AuditSink
from pipeline.sinks.audit.store import (
    AuditQuery,
    AuditRow,
    AuditStore,
    AuditStoreError,
    ChainBreak,
    ChainHead,
    RejectedRecord,
    StoreUnavailable,
    VerifyReport,
    WriteResult,
)

__all__ = [
    "AuditItem",
    "AuditQuery",
    "AuditRow",
    "AuditSink",
    "AuditStore",
    "AuditStoreConfig",
    "AuditStoreError",
    "ChainBreak",
    "ChainHead",
    "RejectedRecord",
    "StoreUnavailable",
    "VerifyReport",
    "WriteResult",
    "index_envelope",
    "open_store",
]
