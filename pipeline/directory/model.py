"""The address book as a file holds it: departments by path, users with every documented field, mail groups
with their members; each row remembers where it came from (line number) and which fields the file gives.

Values are normalised once here (case of addresses, gender/enable/flag spellings, list separators) so the
planner compares like with like: a field the file does not give is left alone; a field given empty means
"empty" (e.g. clears a position).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

USER_FIELDS = ("userid", "name", "department", "position", "mobile", "tel", "extid", "gender", "enable", "slaves",
               "cpwd_login", "setvip")
GROUP_FIELDS = ("groupid", "groupname", "userlist", "grouplist", "department", "allow_type", "allow_userlist")
DEPARTMENT_FIELDS = ("path", "id", "order")
# User flags whose blank cell means "leave as it is" (user/list does not return setvip, for one).
BLANK_KEEPS = frozenset({"enable", "cpwd_login", "setvip"})

_ADDRESS_SPLIT = re.compile(r"[\s,;|，；、]+")
_PATH_SPLIT = re.compile(r"[|\n]+")


class RowError(ValueError):
    """A cell the importer cannot read; the message names the column and the accepted values."""


@dataclass(slots=True)
class Row:
    """One department, user or group read from a file."""

    kind: str  # department | user | group
    key: str  # path | userid | groupid
    values: dict[str, Any]
    where: str  # "line 12", "users!12", "users[3]"
    line: int | None = None
    password: SecretStr | None = field(default=None, repr=False)

    @property
    def given(self) -> frozenset[str]:
        return frozenset(self.values)


@dataclass(slots=True)
class Rejected:
    """A row refused before or while applying: location, object and why (errcode explained when Exmail refused)."""

    where: str
    line: int | None
    object: str
    key: str
    reason: str
    errcode: int | None = None
    meaning: str | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "line": self.line, "object": self.object, "key": self.key,
                "reason": self.reason, "errcode": self.errcode, "meaning": self.meaning, "hint": self.hint}

    def __str__(self) -> str:
        code = f" errcode {self.errcode}" + (f" ({self.meaning})" if self.meaning else "") if self.errcode else ""
        hint = f"; fix: {self.hint}" if self.hint else ""
        return f"{self.where}: {self.object} {self.key}:{code} {self.reason}{hint}".replace(":  ", ": ")


@dataclass(slots=True)
class DirectoryFile:
    """Rows of an import file by kind; `sections` are the kinds the file holds (deletes only touch those)."""

    departments: dict[str, Row] = field(default_factory=dict)
    users: dict[str, Row] = field(default_factory=dict)
    groups: dict[str, Row] = field(default_factory=dict)
    sections: set[str] = field(default_factory=set)
    rejected: list[Rejected] = field(default_factory=list)

    def add(self, row: Row) -> None:
        table = {"department": self.departments, "user": self.users, "group": self.groups}[row.kind]
        self.sections.add(row.kind)
        first = table.get(row.key)
        if first is not None:
            self.rejected.append(Rejected(row.where, row.line, row.kind, row.key,
                                          f"appears twice (first at {first.where}); the later row is ignored"))
            return
        table[row.key] = row


# ---------------------------------------------------------------- cell values


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # spreadsheets turn numeric cells (mobiles, ids) into floats
    return str(value).strip()


def address(value: Any) -> str:
    return text(value).lower()


def addresses(value: Any) -> list[str]:
    if isinstance(value, list):
        return sorted({address(v) for v in value if text(v)})
    return sorted({part.lower() for part in _ADDRESS_SPLIT.split(text(value)) if part})


def paths(value: Any) -> list[str]:
    if isinstance(value, list):
        return sorted({clean_path(text(v)) for v in value if text(v)})
    return sorted({clean_path(p) for p in _PATH_SPLIT.split(text(value)) if p.strip()})


def clean_path(value: str) -> str:
    return "/".join(part.strip() for part in value.strip().strip("/").split("/"))


_GENDER = {"": 0, "0": 0, "未定义": 0, "未知": 0, "unknown": 0, "1": 1, "男": 1, "male": 1, "m": 1,
           "2": 2, "女": 2, "female": 2, "f": 2}
_ENABLE = {"1": 1, "true": 1, "yes": 1, "enabled": 1, "enable": 1, "active": 1, "启用": 1, "正常": 1, "是": 1,
           "0": 0, "false": 0, "no": 0, "disabled": 0, "disable": 0, "inactive": 0, "禁用": 0, "停用": 0, "否": 0}
_FLAG = {"": 0, "0": 0, "no": 0, "false": 0, "否": 0, "1": 1, "yes": 1, "true": 1, "是": 1}
_ALLOW = {"0": 0, "members": 0, "enterprise": 0, "企业成员": 0, "1": 1, "anyone": 1, "任何人": 1, "所有人": 1,
          "2": 2, "group": 2, "group_members": 2, "群组成员": 2, "3": 3, "listed": 3, "custom": 3, "指定成员": 3}


def _choice(column: str, value: Any, table: dict[str, int]) -> int:
    key = text(value).lower()
    if key in table:
        return table[key]
    shown = ", ".join(sorted({k for k in table if k}))
    raise RowError(f"{column}: {text(value)!r} is not one of {shown}")


def gender(value: Any) -> int:
    return _choice("gender", value, _GENDER)


def enable(value: Any) -> int:
    return _choice("enable", value, _ENABLE)


def flag(column: str, value: Any) -> int:
    return _choice(column, value, _FLAG)


def allow_type(value: Any) -> int:
    if text(value) == "":
        return 0
    return _choice("allow_type", value, _ALLOW)


def order(value: Any) -> int:
    raw = text(value)
    if raw == "":
        return 0
    try:
        return int(raw)
    except ValueError:
        raise RowError(f"order: {raw!r} is not a whole number") from None


def normalise(kind: str, name: str, value: Any) -> Any:
    """The comparable form of one field of a row of `kind`."""
    if kind == "user":
        if name == "department":
            return paths(value)
        if name == "slaves":
            return addresses(value)
        if name == "gender":
            return gender(value)
        if name == "enable":
            return enable(value)
        if name in ("cpwd_login", "setvip"):
            return flag(name, value)
        return text(value)
    if kind == "group":
        if name in ("userlist", "grouplist", "allow_userlist"):
            return addresses(value)
        if name == "department":
            return paths(value)
        if name == "allow_type":
            return allow_type(value)
        return text(value)
    if name == "order":
        return order(value)
    if name == "id":
        raw = text(value)
        if not raw:
            return None
        if not raw.isdigit():
            raise RowError(f"id: {raw!r} is not a department id")
        return int(raw)
    return clean_path(text(value))


def build_row(kind: str, values: dict[str, Any], where: str, line: int | None) -> Row:
    """A Row from raw cell values keyed by canonical field name (RowError when a cell is unreadable)."""
    fields = {"user": USER_FIELDS, "group": GROUP_FIELDS, "department": DEPARTMENT_FIELDS}[kind]
    out = {name: normalise(kind, name, values[name]) for name in fields
           if name in values and not (kind == "user" and name in BLANK_KEEPS and text(values[name]) == "")}
    key_field = {"user": "userid", "group": "groupid", "department": "path"}[kind]
    key = out.get(key_field) or ""
    if kind != "department":
        key = key.lower()
        out[key_field] = key
    if not key:
        raise RowError(f"{key_field} is empty")
    if kind != "department" and ("@" not in key or key.count("@") != 1):
        raise RowError(f"{key_field}: {key!r} is not a mailbox address")
    if kind == "department" and out.get("id") is None:
        out.pop("id", None)
    secret = text(values.get("password")) if kind == "user" else ""
    return Row(kind, key, out, where, line, SecretStr(secret) if secret else None)
