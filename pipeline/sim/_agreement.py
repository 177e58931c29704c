"""The agreement checker: the operation log, the address book and the mail/login logs describe one company.

At `now` it replays every operation-log record with `time <= now` (visible or not yet) over the company as
it was built, and checks that
* the replayed users (added 19/25, deleted 20, restored 20 + remark "1", enabled 21, disabled 22), the number
  of departments (added 28, deleted 29), the departments added and the mail groups (added 32, deleted 33) are
  exactly what the directory holds now;
* every mail-log and login-log record names, on the corp's domain, only mailboxes that were active users
  (or groups/aliases) at the record's time: nobody mails or logs in after being deleted or disabled;
* user-scoped operations (edit 23, alias 24, sub-admin 26/27, ...) name users that existed then.
Records injected with POST /_sim/logs are skipped (they are arbitrary by design) and counted.
"""

from __future__ import annotations

import bisect
from collections import Counter
from typing import Any

from pipeline.sim._corp import CorpState
from pipeline.sim._state import LogEntry

USER_STATE_OPS = {19: "active", 21: "active", 22: "disabled", 25: "active"}
USER_OPERAND_OPS = frozenset({23, 24, 26, 27})
MAX_PROBLEMS = 50


class _Timeline:
    """Per user: sorted (time, seq, state) changes; the state at t is the last change at or before t."""

    def __init__(self, initial: dict[str, int]) -> None:
        self.changes: dict[str, list[tuple[int, int, str]]] = {
            u: [(-1, -1, "active" if enable else "disabled")] for u, enable in initial.items()}

    def change(self, userid: str, t: int, seq: int, state: str) -> None:
        bisect.insort(self.changes.setdefault(userid, [(-1, -1, "absent")]), (t, seq, state))

    def state(self, userid: str, t: int, seq: int | None = None) -> str:
        changes = self.changes.get(userid)
        if not changes:
            return "absent"
        i = bisect.bisect_right(changes, (t, seq if seq is not None else 2**62, "~")) - 1
        return changes[i][2] if i >= 0 else "absent"

    def final(self) -> dict[str, str]:
        return {u: c[-1][2] for u, c in self.changes.items()}


def _entries(corp: CorpState, kind: str, now: float) -> tuple[list[LogEntry], int]:
    out, skipped = [], 0
    for day in corp.logs.dates(kind):
        for e in corp.logs.entries(kind, [day]):
            if e.time > now:
                continue
            if e.origin == "injected":
                skipped += 1
                continue
            out.append(e)
    out.sort(key=lambda e: (e.time, e.seq))
    return out, skipped


def check_agreement(corp: CorpState, now: float) -> dict[str, Any]:
    """{"ok", "now", "checked": counts, "skipped_injected", "problems": [...]} (problems capped at 50)."""
    problems: list[str] = []
    directory = corp.directory
    domain = "@" + corp.domain
    initial = corp.initial
    users = _Timeline(initial["users"])
    dept_names = Counter(initial["departments"])
    added_departments: list[tuple[str, int]] = []
    groups = set(initial["groups"])
    ops, skipped_ops = _entries(corp, "operation_log", now)
    checked = Counter[str]()
    for e in ops:
        r = e.record
        op_type, operand = r.get("type"), str(r.get("operand", ""))
        if op_type in USER_STATE_OPS:
            users.change(operand, e.time, e.seq, USER_STATE_OPS[op_type])
        elif op_type == 20:
            users.change(operand, e.time, e.seq, "active" if str(r.get("remark")) == "1" else "absent")
        elif op_type == 28:
            dept_names[operand] += 1
            added_departments.append((operand, e.seq))
        elif op_type == 29:
            dept_names[operand] -= 1
        elif op_type == 32:
            groups.add(operand.lower())
        elif op_type == 33:
            groups.discard(operand.lower())
        elif op_type in USER_OPERAND_OPS and users.state(operand, e.time, e.seq) == "absent":
            problems.append(f"operation {op_type} at {e.time} names {operand}, who does not exist then")
        checked["operation_log"] += 1

    # the replay must give the directory as it is
    for userid, state in sorted(users.final().items()):
        user = directory.users.get(userid)
        actual = "absent" if user is None else ("active" if user.enable else "disabled")
        if actual != state:
            problems.append(f"user {userid}: the operation log says {state}, the directory says {actual}")
    for userid in sorted(set(directory.users) - set(users.changes)):
        problems.append(f"user {userid} is in the directory but neither in the company nor in the log")
    checked["users"] = len(directory.users)
    actual_names = Counter(d.name for d in directory.departments.values())
    if sum(dept_names.values()) != sum(actual_names.values()):
        problems.append(f"departments: the log gives {sum(dept_names.values())}, the directory holds "
                        f"{sum(actual_names.values())}")
    renamed_later = {r.get("operand") for r in (e.record for e in ops) if r.get("type") == 30}
    for name, _ in added_departments:
        if dept_names[name] > 0 and actual_names[name] == 0 and name not in renamed_later:
            problems.append(f"department {name!r} was added (28) and never deleted, but is not in the directory")
    checked["departments"] = len(directory.departments)
    if groups != set(directory.groups):
        problems.append(f"groups: log-only {sorted(groups - set(directory.groups))[:5]}, "
                        f"directory-only {sorted(set(directory.groups) - groups)[:5]}")
    checked["groups"] = len(directory.groups)

    # mail and logins only by users active at that moment
    others = set(directory.groups) | set(directory.aliases) | set(initial["aliases"])
    mail, skipped_mail = _entries(corp, "mail_log", now)
    for e in mail:
        r = e.record
        sides = [r.get("sender")] if r.get("mailtype") == 1 else []
        if r.get("mailtype") == 2:
            sides.append(r.get("receiver"))
        if r.get("mailtype") == 1 and str(r.get("receiver", "")).endswith(domain):
            sides.append(r.get("receiver"))
        for address in sides:
            address = str(address).lower()
            if address.endswith(domain) and address not in others and users.state(address, e.time) != "active":
                problems.append(f"mail_log at {e.time}: {address} is {users.state(address, e.time)} then")
        checked["mail_log"] += 1
    logins, skipped_logins = _entries(corp, "login_log", now)
    for e in logins:
        if e.userid and users.state(e.userid, e.time) != "active":
            problems.append(f"login_log at {e.time}: {e.userid} is {users.state(e.userid, e.time)} then")
        checked["login_log"] += 1
    return {"ok": not problems, "now": now, "checked": dict(checked),
            "skipped_injected": skipped_ops + skipped_mail + skipped_logins,
            "problems": problems[:MAX_PROBLEMS], "problem_count": len(problems)}
