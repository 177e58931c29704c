"""The audit store contract shared by the PostgreSQL and SQLite backends.

A store holds each record (normalized event, and later action records) exactly once by envelope id, indexed
for the common audit questions, with a per-(corp, stream partition) hash chain that makes edits, deletions
and insertions detectable by `verify()`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from pipeline.envelope import Envelope
from pipeline.sinks._batching import RetriableSinkError

if TYPE_CHECKING:
    from pipeline.sinks.audit._rows import StoreInput


class AuditStoreError(RuntimeError):
    """A store operation failed in a way retrying will not fix (schema conflict, bad configuration)."""


class StoreUnavailable(RetriableSinkError):
    """The database cannot be reached or dropped the connection; the batch was not written (or was written
    and will be recognised as duplicates on retry). Retry with backoff."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="store_unavailable")


@dataclass(slots=True, frozen=True)
class RejectedRecord:
    """A record the store refused (it cannot be indexed); the caller dead-letters it with `reason`."""

    envelope: Envelope
    reason: str


@dataclass(slots=True, frozen=True)
class WriteResult:
    inserted: int
    duplicates: int
    rejected: tuple[RejectedRecord, ...] = ()


@dataclass(slots=True, frozen=True)
class AuditQuery:
    """Filters for `query()`; all optional and combined with AND. `kind` matches the row kind exactly, or as a
    glob when it contains `*` (e.g. "exmail.*_log"); `ip` is an address or a CIDR network; `until` is
    exclusive."""

    user: str | None = None
    kind: str | None = None
    action: str | None = None
    corp_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ip: str | None = None
    limit: int | None = None
    newest_first: bool = False

    def __post_init__(self) -> None:
        if self.ip is not None:
            try:
                ipaddress.ip_network(self.ip, strict=False)
            except ValueError as exc:
                raise ValueError(f"ip filter {self.ip!r} is neither an IP address nor a CIDR network") from exc
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must be >= 0")
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")

    @property
    def ip_network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        return None if self.ip is None else ipaddress.ip_network(self.ip, strict=False)


@dataclass(slots=True, frozen=True)
class AuditRow:
    """One stored record with its index columns, the whole envelope and its place in the hash chain."""

    id: str
    corp_id: str
    occurred_at: datetime
    schema: str
    kind: str
    action: str | None
    user: str | None
    source_ip: str | None
    outcome: str | None
    source: str
    chain_partition: int
    seq: int
    prev_hash: str
    row_hash: str
    envelope: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "corp_id": self.corp_id, "occurred_at": self.occurred_at.isoformat(),
            "schema": self.schema, "kind": self.kind, "action": self.action, "user": self.user,
            "source_ip": self.source_ip, "outcome": self.outcome, "source": self.source,
            "chain": {"partition": self.chain_partition, "seq": self.seq, "prev_hash": self.prev_hash,
                      "row_hash": self.row_hash},
            "envelope": self.envelope,
        }


@dataclass(slots=True, frozen=True)
class ChainBreak:
    """The first row of a chain whose stored hash, link or sequence does not match a recomputation."""

    corp_id: str
    chain_partition: int
    seq: int
    id: str | None
    reason: str

    def __str__(self) -> str:
        return (f"corp {self.corp_id} chain {self.chain_partition} seq {self.seq}"
                f" id {self.id or '-'}: {self.reason}")


@dataclass(slots=True, frozen=True)
class ChainHead:
    corp_id: str
    chain_partition: int
    seq: int
    head_hash: str


@dataclass(slots=True)
class VerifyReport:
    """`breaks` holds the first break of every broken chain, in (corp, chain) order; `heads` the recomputed
    head of each intact chain, which can be exported and compared later (anchoring)."""

    chains: int = 0
    rows: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    heads: list[ChainHead] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        return self.breaks[0] if self.breaks else None


class AuditStore(Protocol):
    """Durable, idempotent, tamper-evident storage of audit records."""

    async def write_batch(self, envelopes: Sequence[Envelope], chain_partition: int) -> WriteResult:
        """Insert the records not stored yet, in one transaction, extending each corp's chain for
        `chain_partition`; durable when it returns. Raises StoreUnavailable when the database is away."""
        ...

    async def write_chains(self, parts: Mapping[int, Sequence[StoreInput]]) -> WriteResult:
        """write_batch for several chain partitions in one transaction (one commit, one fsync per batch).
        An item may carry the bytes its envelope was decoded from; they are stored as the record."""
        ...

    def query(self, filters: AuditQuery) -> AsyncIterator[AuditRow]:
        """Rows matching `filters`, ordered by occurrence time then id."""
        ...

    async def verify(self) -> VerifyReport:
        """Recompute every chain from its start and report the first break of each."""
        ...

    async def close(self) -> None: ...
