"""The journal: records and operator alerts go through the entry's outbox, so an output failure between the
ledger write and the send loses nothing, and the resend keeps the ids."""

from __future__ import annotations

import pytest

from pipeline.actions import (
    ActionKind,
    ActionNotFound,
    ActionRequest,
    ActionsConfig,
    Ledger,
    LedgerEntry,
    LedgerState,
    MemoryActionOutput,
    MemoryLedgerStore,
    RecordStatus,
    Trigger,
)
from pipeline.actions._journal import Journal
from pipeline.envelope import Envelope
from pipeline.transforms.rules.alert import Alert

NOW = 1_800_000_000.0


class FlakyOutput(MemoryActionOutput):
    """Refuses the first `failures` sends (a broker outage), then accepts."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def record(self, key: bytes, envelope: Envelope) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("broker down")
        await super().record(key, envelope)


def _journal(output: MemoryActionOutput) -> tuple[Journal, Ledger]:
    ledger = Ledger(MemoryLedgerStore())
    return Journal(ActionsConfig(alert_resolve_after=600), ledger, output, lambda: NOW), ledger


def _entry() -> LedgerEntry:
    request = ActionRequest.build(
        kind=ActionKind.DISABLE_ACCOUNT, corp_id="corp1", target="u@corp.example.com", requested_by="rule:r",
        reason="why", trigger=Trigger(type="alert", ref="fp@t", id="e1"), requested_at=NOW,
    )
    return LedgerEntry(request=request, state=LedgerState.PLANNED, dry_run=False, created_at=NOW, updated_at=NOW)


async def test_a_failed_send_leaves_the_records_in_the_persisted_outbox_and_a_flush_resends_them():
    output = FlakyOutput(failures=1)
    journal, ledger = _journal(output)
    entry = _entry()
    journal.emit(entry, RecordStatus.REQUESTED, NOW)
    with pytest.raises(ConnectionError):
        await journal.commit(entry)
    stored = await ledger.get(entry.id)
    assert stored is not None and [i.channel for i in stored.outbox] == ["record"] and output.records == []
    decided = Envelope.from_dict(stored.outbox[0].envelope).id
    await journal.flush(stored)  # what a resume does first
    assert [(r.id, r.data["status"]) for r in output.records] == [(decided, "requested")]
    assert (await ledger.get(entry.id)).outbox == []


async def test_fail_records_and_alerts_with_the_one_alert_type():
    output = MemoryActionOutput()
    journal, ledger = _journal(output)
    entry = await journal.fail(_entry(), "user not found", 60111, NOW)
    assert entry.state is LedgerState.FAILED and entry.errcode == 60111 and entry.due_at is None
    assert [r.data["status"] for r in output.records] == ["failed"]
    [envelope] = output.alerts
    alert = Alert.from_envelope(envelope)
    assert alert.name == "action_failed" and alert.corp_id == "corp1" and alert.action is None
    assert alert.labels["action_id"] == entry.id and alert.ends_at - alert.starts_at == 600
    assert envelope.source == "pipeline.transforms.actions" and envelope.data["status"] == "firing"
    assert "(errcode 60111): user not found" in alert.annotations["summary"]
    assert (await ledger.get(entry.id)).state is LedgerState.FAILED


async def test_skip_alerts_only_when_asked():
    output = MemoryActionOutput()
    journal, _ = _journal(output)
    await journal.skip(_entry(), "allow-listed", NOW)
    assert output.alerts == [] and output.records[-1].data["status"] == "skipped"
    await journal.skip(_entry(), "hourly limit reached", NOW, alert=True)
    assert [Alert.from_envelope(a).name for a in output.alerts] == ["action_skipped"]


async def test_require_names_the_missing_action():
    journal, _ = _journal(MemoryActionOutput())
    with pytest.raises(ActionNotFound, match="no action 'nope'"):
        await journal.require("nope")
