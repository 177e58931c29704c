"""`pipeline policy plan|apply`: read the directory and every member's options, compare with the resolved
policy, and set what differs (one useroption/update per member, one exmail.actions record each).

Applying is idempotent: it always starts from a fresh plan, so a rerun after an interruption sets only what
still differs. The client's rate limits pace the calls; `limit` caps how many members one run changes.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.actions import ActionKind, ActionOutput, CallRecord
from pipeline.actions.model import operator_record
from pipeline.directory import read_groups
from pipeline.envelope import fingerprint, record_key
from pipeline.exmail import AuthError, ExmailClient, ExmailError, NotFound, UserOptionType
from pipeline.policy.config import OPTION_LABELS, SETTABLE
from pipeline.policy.resolve import PolicyResolver
from pipeline.sources.config import CorpConfig

SOURCE = "pipeline.policy"
ROOT_ID = 1
READ_BATCH = 20


class PolicyError(ValueError):
    """The plan cannot be made (unknown --department, no policy configured)."""


class Interrupted(RuntimeError):
    """The run stopped for a reason unrelated to any member; rerunning the command continues."""


@dataclass(frozen=True, slots=True)
class Setting:
    type: int
    name: str
    actual: str | None
    desired: str
    rule: str
    settable: bool


@dataclass(slots=True)
class MemberDiff:
    userid: str
    departments: list[str]
    settings: list[Setting]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PolicyPlan:
    corp_id: str
    department: str | None
    checked: int
    members: list[MemberDiff] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return fingerprint("policy-plan", self.corp_id, self.department,
                           [(m.userid, [asdict(s) for s in m.settings]) for m in self.members])

    def by_rule(self) -> dict[str, int]:
        return dict(Counter(s.rule for m in self.members for s in m.settings))

    def to_dict(self) -> dict[str, Any]:
        return {"plan_id": self.id, "corp_id": self.corp_id, "department": self.department,
                "checked": self.checked, "differ": len(self.members), "by_rule": self.by_rule(),
                "members": [m.to_dict() for m in self.members], "unreadable": list(self.unreadable)}


@dataclass(slots=True)
class ApplyReport:
    changed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    read_only: int = 0
    left: int = 0


async def load_resolver(client: ExmailClient, corp: CorpConfig) -> PolicyResolver:
    departments = {d.id: d.raw for d in await client.department_list()}
    groups = await read_groups(client, corp.policy.groups if corp.policy else ())
    return PolicyResolver(corp.policy, corp.desired_options, departments, groups)


async def make_policy_plan(client: ExmailClient, corp: CorpConfig, department: str | None = None) -> PolicyPlan:
    """Every member (under `department` when given) whose options differ from the policy, with the rule."""
    if corp.policy is None and not corp.desired_options:
        raise PolicyError(f"corp {corp.name} has no policy (ingest.corps[].policy) and no desired_options")
    resolver = await load_resolver(client, corp)
    top = department.strip().strip("/") if department else None
    company = resolver.paths.get(ROOT_ID, "")
    if top is not None and company and top.startswith(company + "/") and top not in resolver.paths.values():
        top = top[len(company) + 1 :]  # the admin console writes paths with the company name first
    if top is not None and top not in resolver.paths.values():
        raise PolicyError(f"--department {department!r}: no such department path (see `pipeline directory export`)")
    users = await client.user_list(ROOT_ID, fetch_child=True)
    if top is not None:
        users = [u for u in users if resolver.in_department(u.department, top)]
    plan = PolicyPlan(corp.corp_id, top, len(users))
    wanted = [(u, resolver.desired(u.userid, u.department)) for u in users]
    wanted = [(u, d) for u, d in wanted if d]
    for start in range(0, len(wanted), READ_BATCH):
        batch = wanted[start : start + READ_BATCH]
        answers = await asyncio.gather(
            *(client.useroption_get(u.userid, [UserOptionType(t) for t in sorted(d)]) for u, d in batch),
            return_exceptions=True)
        for (user, desired), answer in zip(batch, answers, strict=True):
            if isinstance(answer, AuthError):
                raise Interrupted(f"useroption/get: {answer} (check the function_setting secret)")
            if isinstance(answer, BaseException):
                plan.unreadable.append(f"{user.userid}: {answer}")
                continue
            actual = {int(o.type): str(o.value) for o in answer}
            diffs = [Setting(t, OPTION_LABELS.get(t, str(t)), actual.get(t), want.value, want.rule, t in SETTABLE)
                     for t, want in sorted(desired.items()) if actual.get(t) != want.value]
            if diffs:
                paths = sorted({resolver.paths.get(int(d), str(d)) for d in user.department})
                plan.members.append(MemberDiff(user.userid.lower(), paths, diffs))
    return plan


async def apply_policy_plan(client: ExmailClient, plan: PolicyPlan, output: ActionOutput, *, requested_by: str,
                            limit: int | None = None, progress: Callable[[MemberDiff], None] | None = None,
                            clock: Callable[[], float] = time.time) -> ApplyReport:
    """Set every settable differing option, member by member; records each change on exmail.actions."""
    report = ApplyReport()
    for member in plan.members:
        settable = [s for s in member.settings if s.settable]
        report.read_only += len(member.settings) - len(settable)
        if not settable:
            if progress:
                progress(member)
            continue
        if limit is not None and report.changed + len(report.failed) >= limit:
            report.left += 1
            continue
        body = {"userid": member.userid, "option": [{"type": s.type, "value": s.desired} for s in settable]}
        error: ExmailError | None = None
        try:
            await client.useroption_update(member.userid, {UserOptionType(s.type): s.desired for s in settable})
        except AuthError as exc:
            raise Interrupted(f"useroption/update: {exc} (check the function_setting secret)") from None
        except ExmailError as exc:
            if exc.retryable:
                raise Interrupted(f"useroption/update: {exc} after the client's retries; rerun to continue") from None
            error = exc
        now = clock()
        call = CallRecord(endpoint="useroption/update", method="POST", kind="write", params=body,
                          purpose="apply policy", outcome="error" if error else "ok",
                          errcode=error.errcode if error else None, error=str(error) if error else None, at=now)
        rules = sorted({s.rule for s in settable})
        envelope = operator_record(
            kind=ActionKind.POLICY_APPLY, corp_id=plan.corp_id, target=member.userid, requested_by=requested_by,
            reason="useroption policy: " + ", ".join(rules), trigger_ref=f"policy-apply:{plan.id}",
            params={"settings": {str(s.type): {"name": s.name, "from": s.actual, "to": s.desired, "rule": s.rule}
                                 for s in settable}, "plan_id": plan.id},
            calls=[call], failed=error is not None, result=None if error else "changed",
            detail=None, errcode=error.errcode if error else None, error=str(error) if error else None,
            source=SOURCE, now=now)
        try:
            await output.record(record_key(plan.corp_id, member.userid), envelope)
        except Exception as exc:  # the change happened: say so, and stop before making more unrecorded ones
            raise Interrupted(f"recording on exmail.actions failed ({type(exc).__name__}: {exc})") from None
        if error is None:
            report.changed += 1
        else:
            note = "the member no longer exists" if isinstance(error, NotFound) else str(error)
            report.failed.append((member.userid, note))
        if progress:
            progress(member)
    return report
