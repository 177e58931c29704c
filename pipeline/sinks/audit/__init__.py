"""Audit storage: the store contract, its configuration and factory, and the batching sink in front of it.

Backends are its subpackages: pipeline.sinks.audit.postgres (production) and pipeline.sinks.audit.sqlite
(embedded default), each registered under its `kind:` in pipeline.sinks.registry, which opens the configured one
(`open_audit_store`). The `pipeline audit` CLI is in pipeline.sinks.audit.cli.
"""

from pipeline.sinks.audit._index import index_envelope
from pipeline.sinks.audit.config import AuditStoreConfig
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
]
