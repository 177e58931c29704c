"""The safety rails an action passes before it may change anything: protected accounts (administrators, the
allow-list) and the hourly limit of distinct accounts per kind and corp."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.actions.config import ActionsConfig
from pipeline.actions.ledger import Ledger, distinct_accounts
from pipeline.actions.model import LedgerEntry


@dataclass(frozen=True, slots=True)
class Rails:
    """How one request is guarded: a dry run (plan only), an approval first, the allow-list (security and
    drift), administrators protected (all but joiners and movers)."""

    dry_run: bool
    approval: bool = False
    allow_list: bool = True
    protect_admins: bool = True


def protected_reason(config: ActionsConfig, target: str, *, allow_list: bool, protect_admins: bool) -> str | None:
    """Why `target` must never be acted on automatically (None = it may be)."""
    if protect_admins and target in config.admins:
        return f"{target} is an administrator account (actions.admins); it is never acted on automatically"
    if allow_list:
        domain = target.rsplit("@", 1)[-1]
        for entry in config.allow_list:
            if entry == target or entry in (f"@{domain}", domain):
                return f"{target} is allow-listed (actions.allow_list: {entry})"
    return None


async def limit_reason(
    config: ActionsConfig, ledger: Ledger, entry: LedgerEntry, now: float, *, reserve: bool
) -> str | None:
    """Why the hourly limit refuses this account now (None = allowed; reserves a slot when asked). An entry
    that already holds a slot (a resumed action) keeps it."""
    kind = entry.kind
    limit = config.hourly_limits.get(kind)
    if limit is None or entry.progress.get("limit_reserved"):
        return None
    hits = await ledger.window(entry.request.corp_id, kind, now, config.limit_window)
    accounts = distinct_accounts(hits)
    if entry.request.target not in accounts and len(accounts) >= limit:
        return (
            f"hourly limit reached: {len(accounts)} accounts already had {kind.value} in the last "
            f"{int(config.limit_window)}s (limit {limit})"
        )
    if reserve:
        await ledger.add_hit(entry.request.corp_id, kind, now, config.limit_window, entry.request.target)
        entry.progress["limit_reserved"] = True
    return None
