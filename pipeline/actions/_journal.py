"""The bookkeeping every step shares: an entry's record and alert go into its outbox, the entry is persisted,
then the outbox is handed to the output and persisted empty. A crash between the two re-sends the same
records (same ids) on resume, so nothing is lost and consumers deduplicate."""

from __future__ import annotations

import logging
from collections.abc import Callable

from pipeline import metrics
from pipeline.actions.config import ActionsConfig
from pipeline.actions.errors import ActionNotFound
from pipeline.actions.ledger import Ledger
from pipeline.actions.model import CallRecord, LedgerEntry, LedgerState, OutboxItem, RecordStatus
from pipeline.actions.outputs import ActionOutput, build_alert
from pipeline.envelope import Envelope

log = logging.getLogger("pipeline.actions")


class Journal:
    """Ledger writes, records and operator alerts of the actions, and the terminal transitions (skip, fail)
    that every stage can end in."""

    def __init__(
        self, config: ActionsConfig, ledger: Ledger, output: ActionOutput, clock: Callable[[], float]
    ) -> None:
        self.config = config
        self.ledger = ledger
        self._output = output
        self._clock = clock

    def now(self) -> float:
        return self._clock()

    async def require(self, action_id: str) -> LedgerEntry:
        """The entry of `action_id`; raises ActionNotFound."""
        entry = await self.ledger.get(action_id)
        if entry is None:
            raise ActionNotFound(f"no action {action_id!r}")
        return entry

    def emit(
        self, entry: LedgerEntry, status: RecordStatus, now: float, calls: list[CallRecord] | None = None
    ) -> None:
        """Queue the exmail.actions record of `status` (sent by the next commit)."""
        envelope = entry.record(status, now, calls)
        entry.records += 1
        entry.status = status
        entry.outbox.append(
            OutboxItem(channel="record", key=entry.key().decode(), envelope=envelope.to_dict())
        )
        metrics.ACTIONS.labels(entry.kind.value, status.value).inc()
        log.info(
            "action %s %s %s: %s%s",
            entry.id,
            entry.kind.value,
            entry.request.target,
            status.value,
            f" ({entry.error or entry.detail})" if (entry.error or entry.detail) else "",
        )

    def alert(self, entry: LedgerEntry, rule: str, summary: str, now: float, **annotations: str) -> None:
        """Queue an operator alert about `entry` (sent by the next commit)."""
        envelope = build_alert(
            rule=rule,
            corp_id=entry.request.corp_id,
            now=now,
            resolve_after=self.config.alert_resolve_after,
            labels={
                "user": entry.request.target,
                "action": entry.kind.value,
                "action_id": entry.id,
                "severity": "warning",
            },
            annotations={"summary": summary, **annotations},
            event_ids=[entry.id],
        )
        entry.outbox.append(
            OutboxItem(channel="alert", key=envelope.data["fingerprint"], envelope=envelope.to_dict())
        )

    async def save(self, entry: LedgerEntry) -> None:
        """Persist the entry as it is now (progress within a step, outbox untouched)."""
        entry.updated_at = self.now()
        await self.ledger.save(entry)

    async def commit(self, entry: LedgerEntry) -> None:
        """Persist the entry, then hand its outbox to the output, then persist the empty outbox."""
        await self.save(entry)
        await self.flush(entry)

    async def flush(self, entry: LedgerEntry) -> None:
        if not entry.outbox:
            return
        for item in entry.outbox:
            envelope = Envelope.from_dict(item.envelope)
            if item.channel == "record":
                await self._output.record(item.key.encode(), envelope)
            else:
                await self._output.alert(item.key.encode(), envelope)
        entry.outbox = []
        await self.ledger.save(entry)

    async def skip(self, entry: LedgerEntry, reason: str, now: float, *, alert: bool = False) -> LedgerEntry:
        entry.state, entry.detail, entry.due_at = LedgerState.SKIPPED, reason, None
        self.emit(entry, RecordStatus.SKIPPED, now)
        if alert:
            self.alert(
                entry,
                "action_skipped",
                f"{entry.kind.value} for {entry.request.target} was not executed: {reason}",
                now,
            )
        await self.commit(entry)
        return entry

    async def fail(self, entry: LedgerEntry, reason: str, errcode: int | None, now: float) -> LedgerEntry:
        entry.state, entry.error, entry.errcode, entry.due_at = LedgerState.FAILED, reason, errcode, None
        self.emit(entry, RecordStatus.FAILED, now)
        code = f" (errcode {errcode})" if errcode is not None else ""
        self.alert(
            entry,
            "action_failed",
            f"{entry.kind.value} for {entry.request.target} failed{code}: {reason}",
            now,
            requested_by=entry.request.requested_by,
            reason=entry.request.reason,
        )
        await self.commit(entry)
        return entry

    async def no_client(self, entry: LedgerEntry, now: float) -> LedgerEntry:
        """Fail an action whose corp has no Exmail client configured."""
        return await self.fail(
            entry, f"no Exmail client is configured for corp {entry.request.corp_id}", None, now
        )
