"""The ledger: due work, its indexes, deterministic ids, and the stores it runs on."""

from __future__ import annotations

import pytest

from pipeline.actions import (
    ActionKind,
    ActionRequest,
    Ledger,
    LedgerEntry,
    LedgerState,
    MappingLedgerStore,
    MemoryLedgerStore,
    Trigger,
)


def _entry(n: int, state: LedgerState, due: float | None = None) -> LedgerEntry:
    request = ActionRequest.build(
        kind=ActionKind.DISABLE_ACCOUNT,
        corp_id="c",
        target=f"u{n}@x.com",
        requested_by="test",
        reason="",
        trigger=Trigger(type="manual", ref=str(n)),
        requested_at=float(n),
    )
    return LedgerEntry(request=request, state=state, dry_run=False, due_at=due, created_at=n, updated_at=n)


async def test_ledger_due_and_indexes():
    ledger = Ledger(MemoryLedgerStore(), recent_limit=3)
    entries = [
        _entry(1, LedgerState.SCHEDULED, 100.0),
        _entry(2, LedgerState.EXECUTING),
        _entry(3, LedgerState.AWAITING_APPROVAL, 50.0),
        _entry(4, LedgerState.DONE),
        _entry(5, LedgerState.SCHEDULED, 500.0),
    ]
    for e in entries:
        await ledger.save(e)
    assert [e.id for e in await ledger.due(10.0)] == [entries[1].id]
    assert [e.id for e in await ledger.due(100.0)] == [entries[1].id, entries[2].id, entries[0].id]
    assert len(await ledger.pending()) == 4
    assert [e.id for e in await ledger.recent(10)] == [entries[4].id, entries[3].id, entries[2].id]
    entries[1].state = LedgerState.DONE
    await ledger.save(entries[1])
    assert entries[1].id not in await ledger.pending_ids()


async def test_ledger_drops_index_entries_of_finished_actions():
    store = MemoryLedgerStore()
    ledger = Ledger(store)
    entry = _entry(1, LedgerState.EXECUTING)
    await ledger.save(entry)
    entry.state = LedgerState.DONE
    await store.put(f"action/{entry.id}", entry.to_json())  # crash before the index update
    assert await ledger.pending() == []
    assert await ledger.pending_ids() == {}


def test_action_ids_are_deterministic():
    def build(ref: str, target: str) -> str:
        return ActionRequest.build(
            kind=ActionKind.LEAVER,
            corp_id="c",
            target=target,
            requested_by="x",
            reason="",
            trigger=Trigger(type="hr", ref=ref),
            requested_at=1.0,
        ).id

    assert build("R1/E1", "A@x.com") == build("R1/E1", "a@x.com")
    assert build("R1/E1", "a@x.com") != build("R2/E1", "a@x.com")


@pytest.mark.parametrize("make", [MemoryLedgerStore, lambda: MappingLedgerStore({})])
async def test_stores_copy_values_in_and_out(make):
    store = make()
    value = {"a": [1, 2], "b": {"c": "d"}}
    await store.put("k", value)
    value["a"].append(3)
    got = await store.get("k")
    assert got == {"a": [1, 2], "b": {"c": "d"}}
    got["b"]["c"] = "changed"
    assert (await store.get("k"))["b"]["c"] == "d"
    await store.put("k", None)
    assert await store.get("k") is None and await store.get("missing") is None
