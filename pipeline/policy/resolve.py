"""Who should have which setting, and which rule says so.

Rules are named "default", "department:<path>", "group:<groupid>" and "user:<userid>"; the options poller puts
the name into each drift item and `pipeline policy plan` prints it. A department rule applies to the whole
subtree; with several departments, the deepest matching rule wins (equal depth: the first path in sort
order). A group's members are its userlist, the members of its departments (with their sub-departments) and
of its nested groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.exmail.models import as_int
from pipeline.policy.config import OptionPolicy
from pipeline.sources._diff import department_paths

ROOT_ID = 1
DEFAULT_RULE = "default"


@dataclass(frozen=True, slots=True)
class Desired:
    value: str
    rule: str


def _ids(values: Iterable[Any]) -> list[int]:
    out = []
    for v in values or ():
        try:
            out.append(as_int(v))
        except ValueError:
            continue
    return out


class PolicyResolver:
    """Desired settings per user from a policy, the company default and the directory (departments by id
    with name/parentid, mail groups as group/get returns them)."""

    def __init__(self, policy: OptionPolicy | None, company_default: Mapping[int, str],
                 departments: Mapping[Any, Mapping[str, Any]], groups: Mapping[str, Mapping[str, Any]]) -> None:
        self.policy = policy or OptionPolicy()
        self.default = {int(t): v for t, v in (self.policy.default or company_default).items()}
        raw = {str(k): v for k, v in departments.items()}
        self.paths = {int(k): p for k, p in department_paths(raw, str(ROOT_ID)).items()}
        self.parent = {int(k): as_int(v.get("parentid") or 0) for k, v in raw.items()}
        self.groups = {str(g).lower(): g_raw for g, g_raw in groups.items()}

    @property
    def group_ids(self) -> list[str]:
        return list(self.policy.groups)

    def ancestors(self, dept_id: int) -> list[int]:
        """dept_id and its parents up to (excluding) the root."""
        out: list[int] = []
        current: int | None = dept_id
        while current is not None and current != ROOT_ID and current in self.parent and len(out) < 64:
            out.append(current)
            current = self.parent[current]
        return out

    def in_department(self, dept_ids: Iterable[int], top: str) -> bool:
        """Whether any of `dept_ids` is the department at path `top` or below it."""
        return any(self.paths.get(a) == top for d in dept_ids for a in self.ancestors(d))

    def _member(self, groupid: str, userid: str, dept_ids: list[int], seen: frozenset[str] = frozenset()) -> bool:
        group = self.groups.get(groupid)
        if group is None or groupid in seen:
            return False
        if userid in {str(u).lower() for u in group.get("userlist") or ()}:
            return True
        mine = {a for d in dept_ids for a in self.ancestors(d)} | set(dept_ids)
        if mine & set(_ids(group.get("department") or ())):
            return True
        return any(self._member(str(g).lower(), userid, dept_ids, seen | {groupid})
                   for g in group.get("grouplist") or ())

    def desired(self, userid: str, departments: Iterable[Any]) -> dict[int, Desired]:
        userid = userid.lower()
        dept_ids = _ids(departments)
        out = {t: Desired(v, DEFAULT_RULE) for t, v in self.default.items()}
        candidates: list[tuple[int, str, int]] = []  # (depth, path, dept id) of every ancestor with a rule
        for d in dept_ids:
            chain = self.ancestors(d)
            for depth, a in enumerate(reversed(chain), start=1):
                path = self.paths.get(a, "")
                if path in self.policy.departments:
                    candidates.append((depth, path, a))
        ordered = sorted(candidates, key=lambda c: c[1], reverse=True)
        ordered.sort(key=lambda c: c[0])  # stable: shallow first, equal depth in reverse path order
        for _depth, path, _ in ordered:
            for t, v in self.policy.departments[path].items():
                out[t] = Desired(v, f"department:{path}")
        for groupid in reversed(list(self.policy.groups)):
            if self._member(groupid, userid, dept_ids):
                for t, v in self.policy.groups[groupid].items():
                    out[t] = Desired(v, f"group:{groupid}")
        for t, v in self.policy.users.get(userid, {}).items():
            out[t] = Desired(v, f"user:{userid}")
        return out
