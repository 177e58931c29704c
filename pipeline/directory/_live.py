"""The live directory read through the API, in the same normalised form as a file's rows.

Departments come from department/list, users from user/list (root, fetch_child=1), mail groups from group/get
for each group the caller names (the API cannot list groups). Paths are computed as everywhere else in the
pipeline (pipeline.sources._diff.department_paths): names from the top level under the root joined with '/';
the root's own path is the company name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pipeline.directory.model import normalise
from pipeline.exmail import ExmailClient, NotFound, OperationCategory
from pipeline.exmail.models import as_int
from pipeline.sources._diff import department_paths
from pipeline.sources.logs import GROUP_OPERATIONS

ROOT_ID = 1


@dataclass(slots=True)
class LiveDirectory:
    departments: dict[int, dict[str, Any]]
    users: dict[str, dict[str, Any]]
    groups: dict[str, dict[str, Any]]
    has_setvip: bool = False
    paths: dict[int, str] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.reindex()

    def reindex(self) -> None:
        raw = {str(i): d for i, d in self.departments.items()}
        self.paths = {int(i): p for i, p in department_paths(raw, str(ROOT_ID)).items()}
        self.ids = {p: i for i, p in self.paths.items() if i != ROOT_ID}

    @property
    def root_name(self) -> str:
        return str(self.departments.get(ROOT_ID, {}).get("name") or "")

    def canonical(self, path: str) -> str:
        """A file's path in this directory's form: '' and the company name are the root; a leading
        '<company>/' is dropped (the admin console writes full paths)."""
        root = self.root_name
        if path in ("", root):
            return root
        if root and path.startswith(root + "/") and path not in self.ids:
            return path[len(root) + 1 :]
        return path

    def resolve(self, path: str) -> int | None:
        path = self.canonical(path)
        if path == self.root_name:
            return ROOT_ID
        return self.ids.get(path)

    def path_of(self, dept_id: int) -> str:
        return self.paths.get(dept_id, str(dept_id))

    def user_view(self, raw: dict[str, Any]) -> dict[str, Any]:
        """user/list entry -> the normalised fields a file row has."""
        view = {name: normalise("user", name, raw.get(name)) for name in
                ("userid", "name", "position", "mobile", "tel", "extid", "gender", "slaves", "cpwd_login")}
        view["department"] = sorted({self.path_of(as_int(d)) for d in raw.get("department") or []})
        enable = raw.get("enable")
        view["enable"] = 1 if enable in (None, "") else as_int(enable)
        if "setvip" in raw:
            view["setvip"] = normalise("user", "setvip", raw.get("setvip"))
        return view

    def group_view(self, raw: dict[str, Any]) -> dict[str, Any]:
        view = {name: normalise("group", name, raw.get(name)) for name in
                ("groupid", "groupname", "userlist", "grouplist", "allow_userlist")}
        view["department"] = sorted({self.path_of(as_int(d)) for d in raw.get("department") or []})
        allow = raw.get("allow_type")
        view["allow_type"] = 0 if allow in (None, "") else as_int(allow)
        return view

    def snapshot(self, corp_id: str, exported_at: str) -> dict[str, Any]:
        """The export document (JSON form; CSV/XLSX flatten it): departments by path, users, groups."""
        departments = [{"path": self.paths[i], "id": i, "order": as_int(d.get("order") or 0)}
                       for i, d in self.departments.items() if i != ROOT_ID]
        departments.sort(key=lambda d: (str(d["path"]).count("/"), str(d["path"])))
        users = sorted((self.user_view(u) for u in self.users.values()), key=lambda u: u["userid"])
        groups = sorted((self.group_view(g) for g in self.groups.values()), key=lambda g: g["groupid"])
        return {"format": "exmail-directory/1", "corp_id": corp_id, "exported_at": exported_at,
                "company": self.root_name, "departments": departments, "users": users, "groups": groups}


async def read_groups(client: ExmailClient, groupids: Iterable[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for gid in sorted({g.strip().lower() for g in groupids if g.strip()}):
        try:
            group = await client.group_get(gid)
        except NotFound:
            continue
        out[group.groupid.lower()] = group.raw
    return out


async def groups_from_log(client: ExmailClient, today: date, days: int) -> set[str]:
    """Mail groups the operation log names (added or edited) in the last `days` days: the API cannot list
    groups, so this is how an export finds the ones nobody named (needs the system_log secret)."""
    records = await client.log_operation(today - timedelta(days=days), today,
                                         category=OperationCategory.MEMBERS_AND_GROUPS)
    found = set()
    for record in records:
        try:
            op_type = as_int(record.type)
        except ValueError:
            continue
        if op_type in GROUP_OPERATIONS and "@" in record.operand:
            found.add(record.operand.strip().lower())
    return found


async def read_live(client: ExmailClient, groupids: Iterable[str] = ()) -> LiveDirectory:
    departments = {d.id: d.raw for d in await client.department_list()}
    users = {u.userid.lower(): u.raw for u in await client.user_list(ROOT_ID, fetch_child=True)}
    groups = await read_groups(client, groupids)
    return LiveDirectory(departments, users, groups, has_setvip=any("setvip" in u for u in users.values()))
