"""The rails on their own: protected accounts and the hourly limit of distinct accounts."""

from __future__ import annotations

from pipeline.actions import (
    ActionKind,
    ActionRequest,
    ActionsConfig,
    Ledger,
    LedgerEntry,
    LedgerState,
    MemoryLedgerStore,
    Trigger,
)
from pipeline.actions._rails import limit_reason, protected_reason

DOMAIN = "corp.example.com"


def _config(**extra: object) -> ActionsConfig:
    return ActionsConfig.model_validate(
        {"admins": [f"Admin@{DOMAIN}"], "allow_list": [f"vip@{DOMAIN}", "@partner.example.org"], **extra}
    )


def test_admins_are_protected_only_when_asked():
    config = _config()
    reason = protected_reason(config, f"admin@{DOMAIN}", allow_list=False, protect_admins=True)
    assert reason is not None and "administrator" in reason
    assert protected_reason(config, f"admin@{DOMAIN}", allow_list=False, protect_admins=False) is None


def test_allow_list_matches_accounts_and_domains():
    config = _config()
    assert "allow-listed" in (protected_reason(config, f"vip@{DOMAIN}", allow_list=True, protect_admins=True) or "")
    by_domain = protected_reason(config, "x@partner.example.org", allow_list=True, protect_admins=True)
    assert by_domain is not None and "@partner.example.org" in by_domain
    assert protected_reason(config, f"vip@{DOMAIN}", allow_list=False, protect_admins=True) is None
    assert protected_reason(config, f"someone@{DOMAIN}", allow_list=True, protect_admins=True) is None


def _entry(target: str, now: float, kind: ActionKind = ActionKind.DISABLE_ACCOUNT) -> LedgerEntry:
    request = ActionRequest.build(
        kind=kind, corp_id="corp1", target=target, requested_by="rule:x", reason="r",
        trigger=Trigger(type="alert", ref=target, id=target), params={}, requested_at=now,
    )
    return LedgerEntry(request=request, state=LedgerState.PLANNED, dry_run=False, created_at=now, updated_at=now)


async def test_hourly_limit_counts_distinct_accounts_and_reserves_once():
    config = _config(hourly_limits={"disable_account": 2}, limit_window="1h")
    ledger = Ledger(MemoryLedgerStore())
    now = 1_000_000.0
    first, second, third = (_entry(f"u{i}@{DOMAIN}", now) for i in range(3))
    assert await limit_reason(config, ledger, first, now, reserve=True) is None
    assert first.progress["limit_reserved"] is True
    assert await limit_reason(config, ledger, first, now, reserve=True) is None  # a resumed entry keeps its slot
    assert await limit_reason(config, ledger, second, now, reserve=False) is None  # asking reserves nothing
    assert await limit_reason(config, ledger, second, now, reserve=True) is None
    refused = await limit_reason(config, ledger, third, now, reserve=True)
    assert refused is not None and "hourly limit reached: 2 accounts" in refused and "limit 2" in refused
    again = _entry(f"u0@{DOMAIN}", now)  # the same account again is not a new one
    assert await limit_reason(config, ledger, again, now, reserve=False) is None
    assert await limit_reason(config, ledger, third, now + 3601, reserve=False) is None  # the window slid


async def test_unlimited_kinds_pass_and_record_no_hits():
    config = _config(hourly_limits={"disable_account": 0})
    ledger = Ledger(MemoryLedgerStore())
    for i in range(5):
        joiner = _entry(f"u{i}@{DOMAIN}", 0.0, ActionKind.JOINER)
        assert await limit_reason(config, ledger, joiner, 0.0, reserve=True) is None
        assert "limit_reserved" not in joiner.progress
    assert await ledger.window("corp1", ActionKind.JOINER, 0.0, 3600.0) == []
    refused = await limit_reason(config, ledger, _entry(f"u@{DOMAIN}", 0.0), 0.0, reserve=True)
    assert refused is not None and "limit 0" in refused
