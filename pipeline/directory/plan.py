"""The import plan: what to change so the live directory matches the file, in an order the API accepts.

Departments are matched by path (or by id when the file carries the export's department ids, which turns a
changed path into a rename/move). A field the file does not give is never changed; objects the file does not
hold are kept unless `delete` is asked for, and only for the kinds the file holds at all. Ops name
departments by path; ids are resolved when an op runs, so a plan stays valid across a resume.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.directory._live import ROOT_ID, LiveDirectory
from pipeline.directory.model import DirectoryFile, Rejected
from pipeline.envelope import fingerprint

ACTIONS = ("create", "update", "move", "disable", "enable", "delete")


@dataclass(slots=True)
class Op:
    """One object's change: `desired` holds the fields to set (departments as paths), `changes` before/after."""

    id: str
    action: str
    object: str
    key: str
    desired: dict[str, Any]
    changes: dict[str, list[Any]]
    where: str
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Op:
        return cls(**value)

    def describe(self) -> str:
        shown = []
        for name, (before, after) in self.changes.items():
            if self.action == "create":
                shown.append(f"{name}={_short(after)}")
            elif self.action != "delete":
                shown.append(f"{name}: {_short(before)} -> {_short(after)}")
        detail = "  " + ", ".join(shown) if shown else ""
        return f"{self.action:<8} {self.object:<10} {self.key}{detail}   ({self.where})"


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return "''" if value == "" else str(value)


@dataclass(slots=True)
class Plan:
    corp_id: str
    source: str
    input_sha256: str
    delete: bool
    ops: list[Op] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kept: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return fingerprint("directory-plan", self.corp_id, self.input_sha256, [op.id for op in self.ops])

    def counts(self) -> dict[str, int]:
        found = Counter(op.action for op in self.ops)
        return {a: found.get(a, 0) for a in ACTIONS}

    def summary(self) -> str:
        c = self.counts()
        return ", ".join(f"{c[a]} {a}s" if c[a] != 1 else f"1 {a}" for a in ACTIONS)

    def to_dict(self) -> dict[str, Any]:
        return {"plan_id": self.id, "corp_id": self.corp_id, "source": self.source,
                "input_sha256": self.input_sha256, "delete": self.delete, "counts": self.counts(),
                "ops": [op.to_dict() for op in self.ops], "rejected": [r.to_dict() for r in self.rejected],
                "notes": list(self.notes), "kept": dict(self.kept)}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Plan:
        return cls(corp_id=value["corp_id"], source=value["source"], input_sha256=value["input_sha256"],
                   delete=bool(value["delete"]), ops=[Op.from_dict(o) for o in value["ops"]],
                   rejected=[Rejected(**r) for r in value.get("rejected", [])],
                   notes=list(value.get("notes", [])), kept=dict(value.get("kept", {})))


def _op(action: str, obj: str, key: str, desired: dict[str, Any], changes: dict[str, list[Any]], where: str,
        line: int | None) -> Op:
    oid = fingerprint("directory-op", obj, key, action, desired)
    return Op(oid, action, obj, key, desired, changes, where, line)


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _user_action(changes: dict[str, list[Any]]) -> str:
    if "enable" in changes:
        return "disable" if changes["enable"][1] == 0 else "enable"
    if "department" in changes:
        return "move"
    return "update"


def make_plan(data: DirectoryFile, live: LiveDirectory, *, corp_id: str, source: str, input_sha256: str,
              delete: bool = False, known_groups: set[str] | None = None) -> Plan:
    """Compare the file with the live directory. Pure: no API calls."""
    plan = Plan(corp_id, source, input_sha256, delete, rejected=list(data.rejected))
    root = live.root_name
    dept_rows = {live.canonical(path): row for path, row in data.departments.items()}

    def canon(paths: list[str]) -> list[str]:
        return sorted({live.canonical(p) for p in paths})

    # departments: moves/renames by id, then every path the file needs
    dept_ops: list[Op] = []
    moved: dict[str, int] = {}
    for row in data.departments.values():
        path = live.canonical(row.key)
        dept_id = row.values.get("id")
        if dept_id is not None and dept_id in live.departments and dept_id != ROOT_ID \
                and live.path_of(dept_id) != path:
            old = live.path_of(dept_id)
            changes: dict[str, list[Any]] = {"path": [old, path]}
            desired: dict[str, Any] = {"id": dept_id, "path": path}
            if "order" in row.values:
                desired["order"] = row.values["order"]
            action = "move" if old.rpartition("/")[0] != path.rpartition("/")[0] else "update"
            dept_ops.append(_op(action, "department", path, desired, changes, row.where, row.line))
            moved[path] = dept_id
        elif dept_id is not None and dept_id not in live.departments:
            plan.notes.append(f"{row.where}: department id {dept_id} does not exist; matched by path instead")
    renames = sorted(((live.path_of(i), p) for p, i in moved.items()), key=lambda r: -r[0].count("/"))

    def future(path: str) -> str:
        """Where a live department's path will be once the planned moves/renames ran."""
        for old, new in renames:
            if path == old or path.startswith(old + "/"):
                return new + path[len(old):]
        return path

    existing = {future(p) for p in live.ids} | set(moved)
    needed: dict[str, tuple[str, int | None]] = {}
    referenced: list[tuple[str, str, int | None]] = [(live.canonical(r.key), r.where, r.line)
                                                     for r in data.departments.values()]
    for row in [*data.users.values(), *data.groups.values()]:
        referenced += [(p, row.where, row.line) for p in canon(row.values.get("department", []))]
    for path, where, line in referenced:
        if path == root:
            continue
        for ancestor in _ancestors(path):
            if ancestor not in existing:
                needed.setdefault(ancestor, (where, line))
    creates = []
    for path in sorted(needed, key=lambda p: (p.count("/"), p)):
        where, line = needed[path]
        dept_row = dept_rows.get(path)
        desired = {"path": path}
        if dept_row is not None and "order" in dept_row.values:
            desired["order"] = dept_row.values["order"]
        creates.append(_op("create", "department", path, desired, {"path": [None, path]}, where, line))
    for row in data.departments.values():
        path = live.canonical(row.key)
        dept_id = live.ids.get(path)
        if dept_id is None or path in moved or "order" not in row.values:
            continue
        live_order = int(live.departments[dept_id].get("order") or 0)
        if live_order != row.values["order"]:
            dept_ops.append(_op("update", "department", path, {"id": dept_id, "order": row.values["order"]},
                                {"order": [live_order, row.values["order"]]}, row.where, row.line))
    dept_ops.sort(key=lambda o: (o.key.count("/"), o.key))
    plan.ops += creates + dept_ops

    # users
    user_creates, user_updates = [], []
    for row in data.users.values():
        values = dict(row.values)
        if "department" in values:
            values["department"] = canon(values["department"])
        current = live.users.get(row.key)
        if current is None:
            missing = [f for f in ("name", "department") if not values.get(f)]
            if missing:
                plan.rejected.append(Rejected(row.where, row.line, "user", row.key,
                                              f"a new account needs {' and '.join(missing)}"))
                continue
            desired = {k: v for k, v in values.items() if k != "enable" or v == 0}
            changes = {k: [None, v] for k, v in desired.items() if k != "userid"}
            if row.password is not None:
                desired["password_from_file"] = True
                changes["password"] = [None, "(from file)"]
            user_creates.append(_op("create", "user", row.key, desired, changes, row.where, row.line))
            continue
        view = live.user_view(current)
        view["department"] = sorted({future(p) for p in view["department"]})
        changes = {k: [view.get(k), v] for k, v in values.items() if k != "userid" and view.get(k) != v}
        if not changes:
            continue
        desired = {"userid": row.key, **{k: v for k, (_, v) in changes.items()}}
        user_updates.append(_op(_user_action(changes), "user", row.key, desired, changes, row.where, row.line))
    plan.ops += user_creates + user_updates
    if any(r.password is not None and r.key in live.users for r in data.users.values()):
        plan.notes.append("the password column is used for new accounts only; existing passwords are not changed")

    # groups
    group_creates, group_updates = [], []
    for row in data.groups.values():
        values = dict(row.values)
        if "department" in values:
            values["department"] = canon(values["department"])
        current = live.groups.get(row.key)
        if current is None:
            if not values.get("groupname"):
                plan.rejected.append(Rejected(row.where, row.line, "group", row.key, "a new group needs a groupname"))
                continue
            changes = {k: [None, v] for k, v in values.items() if k != "groupid"}
            group_creates.append(_op("create", "group", row.key, values, changes, row.where, row.line))
            continue
        view = live.group_view(current)
        view["department"] = sorted({future(p) for p in view["department"]})
        changes = {k: [view.get(k), v] for k, v in values.items() if k != "groupid" and view.get(k) != v}
        if changes:
            desired = {"groupid": row.key, **{k: v for k, (_, v) in changes.items()}}
            group_updates.append(_op("update", "group", row.key, desired, changes, row.where, row.line))
    plan.ops += _nested_first(group_creates) + group_updates

    # what the file does not hold
    deletes: list[Op] = []
    if "group" in data.sections:
        absent = sorted((set(known_groups or ()) & set(live.groups)) - set(data.groups))
        _absent(plan, deletes, "group", absent)
    if "user" in data.sections:
        _absent(plan, deletes, "user", sorted(set(live.users) - set(data.users)))
    if "department" in data.sections:
        keep = {a for path, _, _ in referenced for a in _ancestors(path)} | set(moved)
        gone = [p for i, p in live.paths.items()
                if i != ROOT_ID and future(p) not in keep and i not in moved.values()]
        _absent(plan, deletes, "department", sorted(gone, key=lambda p: (-p.count("/"), p)))
    plan.ops += deletes
    return plan


def _absent(plan: Plan, deletes: list[Op], obj: str, keys: list[str]) -> None:
    if not keys:
        return
    if plan.delete:
        deletes += [_op("delete", obj, k, {}, {}, "not in the file", None) for k in keys]
    else:
        plan.kept[obj] = len(keys)


def _nested_first(creates: list[Op]) -> list[Op]:
    """Groups whose members include other new groups are created after them."""
    pending = {op.key: op for op in creates}
    ordered: list[Op] = []
    while pending:
        ready = [op for op in pending.values()
                 if not (set(op.desired.get("grouplist", [])) & (set(pending) - {op.key}))]
        if not ready:  # a cycle: let the API refuse it (600020) rather than loop
            ready = list(pending.values())
        for op in sorted(ready, key=lambda o: o.key):
            ordered.append(op)
            pending.pop(op.key)
    return ordered
