"""In-memory state of one simulated corp: address book with Exmail's validation codes, per-user options,
the four log stores (with occurrence and visibility times) and mailboxes (unread counts)."""

from __future__ import annotations

import bisect
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import date as Date
from datetime import timedelta
from typing import Any

from pipeline import streams
from pipeline.sim._errors import ApiError
from pipeline.sim.clock import SimClock

ROOT_ID = 1
MAX_DEPT_DEPTH = 15
MAX_GROUP_DEPTH = 5
DEPT_ILLEGAL = set('\\:*?"<>|｜')
GROUP_ILLEGAL = set('\\:*?"<>|｜')
DEFAULT_OPTIONS = {1: "0", 2: "1", 3: "1", 4: "0"}
OPTION_TYPES = (1, 2, 3, 4)
READONLY_OPTIONS = {4}

_LOCAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}")
_MOBILE = re.compile(r"\+?[0-9][0-9\-]{4,19}")
_TEL = re.compile(r"[0-9+\-() ]{3,32}")
_EXTID = re.compile(r"[A-Za-z0-9_\-]{0,32}")
_DOMAIN = re.compile(r"[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9\-]{0,61}[a-z0-9])?)+")


@dataclass
class Department:
    id: int
    name: str
    parentid: int
    order: int = 0


@dataclass
class User:
    userid: str
    name: str
    department: list[int]
    position: str = ""
    mobile: str = ""
    tel: str = ""
    extid: str = ""
    gender: int = 0
    enable: int = 1
    slaves: list[str] = field(default_factory=list)
    cpwd_login: int = 0
    setvip: int = 0
    password: str | None = field(default=None, repr=False)

    def public(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("password")
        return data


@dataclass
class Group:
    groupid: str
    groupname: str
    userlist: list[str] = field(default_factory=list)
    grouplist: list[str] = field(default_factory=list)
    department: list[int] = field(default_factory=list)
    allow_type: int = 0
    allow_userlist: list[str] = field(default_factory=list)
    taglist: list[int] = field(default_factory=list)
    allow_department: list[int] = field(default_factory=list)
    allow_taglist: list[int] = field(default_factory=list)


ALLOW_LISTS = ("allow_userlist", "allow_department", "allow_taglist")


@dataclass
class Tag:
    tagid: int
    tagname: str
    userlist: list[str] = field(default_factory=list)
    partylist: list[int] = field(default_factory=list)


@dataclass
class LogEntry:
    """One log line: `record` is exactly what the API returns; `visible_at` >= `time` models late records."""

    kind: str
    record: dict[str, Any]
    time: int
    visible_at: int
    seq: int
    date: str
    userid: str | None = None
    origin: str = "traffic"


@dataclass
class Mail:
    mail_id: str
    userid: str
    from_user: str
    subject: str
    time: int
    read_at: int | None = None
    seq: int = 0


OpSink = Callable[[int, str, "str | None"], None]


def _as_int(value: Any, code: int) -> int:
    if isinstance(value, bool):
        raise ApiError(code)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
        return int(value)
    raise ApiError(code)


def _flag(value: Any, code: int) -> int:
    v = _as_int(value, code)
    if v not in (0, 1):
        raise ApiError(code)
    return v


def _str_list(value: Any, code: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(code)
    return [v.strip() for v in value]


def _int_list(value: Any, code: int) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(code)
    return [_as_int(v, code) for v in value]


def _text(value: Any, code: int, max_bytes: int, min_bytes: int = 0) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ApiError(code)
    size = len(value.encode("utf-8", "replace"))
    if size < min_bytes or size > max_bytes:
        raise ApiError(code)
    return value


def valid_domain(domain: str) -> bool:
    return bool(_DOMAIN.fullmatch(domain))


def date_range(begin: str, end: str) -> list[str]:
    b, e = Date.fromisoformat(begin), Date.fromisoformat(end)
    return [(b + timedelta(days=i)).isoformat() for i in range((e - b).days + 1)]


class Directory:
    """Departments, users, aliases, groups, tags and options, with the reference §11 validation codes.

    Every successful write reports (operation type, operand, remark) to `on_op` so log/operation shows it.
    """

    def __init__(self, domains: Iterable[str], company_name: str, rng: random.Random, on_op: OpSink,
                 invalid_param: int = 40058) -> None:
        self.domains = [d.lower() for d in domains]
        self.departments: dict[int, Department] = {ROOT_ID: Department(ROOT_ID, company_name, 0, 0)}
        self.users: dict[str, User] = {}
        self.aliases: dict[str, str] = {}
        self.groups: dict[str, Group] = {}
        self.tags: dict[int, Tag] = {}
        self.options: dict[str, dict[int, str]] = {}
        self._rng = rng
        self._on_op = on_op
        self.invalid_param = invalid_param
        self.max_departments = 30000
        self.group_invalid_members = "error"  # or "partial": unknown members dropped and listed in invalid_*

    # --- names and ids

    def is_corp_address(self, address: str) -> bool:
        if not isinstance(address, str) or address.count("@") != 1:
            return False
        local, domain = address.split("@")
        return bool(_LOCAL.fullmatch(local)) and domain.lower() in self.domains

    def address_kind(self, address: str) -> int:
        """batchcheck type: -1 invalid, 0 free, 1 user, 2 alias, 3 group."""
        if not self.is_corp_address(address):
            return -1
        key = address.lower()
        if key in self.users:
            return 1
        if key in self.aliases:
            return 2
        if key in self.groups:
            return 3
        return 0

    def new_department_id(self) -> int:
        while True:
            candidate = self._rng.randrange(10**18, 2**63 - 1)
            if candidate not in self.departments:
                return candidate

    def user(self, userid: Any) -> User:
        if not isinstance(userid, str) or not userid.strip():
            raise ApiError(40003)
        found = self.users.get(userid.strip().lower())
        if found is None:
            raise ApiError(60111)
        return found

    def department(self, dept_id: Any, missing: int = 60003) -> Department:
        did = _as_int(dept_id, 60123)
        found = self.departments.get(did)
        if found is None:
            raise ApiError(missing)
        return found

    def children(self, dept_id: int) -> list[Department]:
        return [d for d in self.departments.values() if d.parentid == dept_id and d.id != ROOT_ID]

    def subtree(self, dept_id: int) -> list[int]:
        out = [dept_id]
        i = 0
        while i < len(out):
            out.extend(d.id for d in self.children(out[i]))
            i += 1
        return out

    def depth(self, dept_id: int) -> int:
        depth = 0
        current = self.departments.get(dept_id)
        while current is not None and current.id != ROOT_ID:
            depth += 1
            current = self.departments.get(current.parentid)
        return depth

    def path(self, dept_id: int) -> str:
        """Department path from the top level under the root, joined with '/' (the root's path is its name)."""
        if dept_id == ROOT_ID:
            return self.departments[ROOT_ID].name
        names: list[str] = []
        current = self.departments.get(dept_id)
        while current is not None and current.id != ROOT_ID:
            names.append(current.name)
            current = self.departments.get(current.parentid)
        return "/".join(reversed(names))

    # --- departments

    @staticmethod
    def _dept_name(value: Any) -> str:
        if not isinstance(value, str):
            raise ApiError(60001)
        name = value.strip()
        if (value and not name) or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise ApiError(60125)  # whitespace only or control characters: a name no rule above covers
        if not 1 <= len(name.encode("utf-8", "replace")) <= 64:
            raise ApiError(60001)
        if DEPT_ILLEGAL & set(name):
            raise ApiError(60009)
        return name

    def _check_sibling_name(self, parentid: int, name: str, own_id: int | None = None) -> None:
        for d in self.children(parentid):
            if d.name == name and d.id != own_id:
                raise ApiError(60008)

    @staticmethod
    def _order(value: Any, code: int) -> int:
        order = _as_int(value, code)
        if order < 0 or order >= 2**32:
            raise ApiError(code)
        return 0 if 1 <= order <= 10000 else order

    def create_department(self, body: dict[str, Any]) -> Department:
        name = self._dept_name(body.get("name"))
        if body.get("parentid") is None:
            raise ApiError(60124)
        parent = self.department(body["parentid"], missing=60004)
        if self.depth(parent.id) + 1 > MAX_DEPT_DEPTH:
            raise ApiError(60002)
        self._check_sibling_name(parent.id, name)
        order = self._order(body.get("order", 0), self.invalid_param)
        if len(self.departments) >= self.max_departments:
            raise ApiError(60126)
        dept = Department(self.new_department_id(), name, parent.id, order)
        self.departments[dept.id] = dept
        self._on_op(28, name, None)
        return dept

    def update_department(self, body: dict[str, Any]) -> None:
        if body.get("id") is None:
            raise ApiError(60127)
        dept = self.department(body["id"])
        name = self._dept_name(body["name"]) if "name" in body else dept.name
        parentid = dept.parentid
        if body.get("parentid") is not None:
            parent = self.department(body["parentid"], missing=60004)
            if dept.id == ROOT_ID:
                raise ApiError(60124)
            if parent.id in self.subtree(dept.id):
                raise ApiError(60010)
            parentid = parent.id
        order = self._order(body["order"], self.invalid_param) if "order" in body else dept.order
        self._check_sibling_name(parentid, name, own_id=dept.id)
        if parentid != dept.parentid:
            moved_depth = self.depth(parentid) + 1 + max(self.depth(d) - self.depth(dept.id)
                                                         for d in self.subtree(dept.id))
            if moved_depth > MAX_DEPT_DEPTH:
                raise ApiError(60002)
        moved = parentid != dept.parentid
        edited = name != dept.name or order != dept.order
        dept.name, dept.parentid, dept.order = name, parentid, order
        if moved:
            self._on_op(31, name, None)
        if edited or not moved:
            self._on_op(30, name, None)

    def delete_department(self, dept_id: Any) -> None:
        if dept_id is None or dept_id == "":
            raise ApiError(60127)
        dept = self.department(dept_id)
        if dept.id == ROOT_ID:
            raise ApiError(60007)
        if self.children(dept.id):
            raise ApiError(60006)
        if any(dept.id in u.department for u in self.users.values()):
            raise ApiError(60005)
        del self.departments[dept.id]
        for g in self.groups.values():
            g.department = [d for d in g.department if d != dept.id]
            g.allow_department = [d for d in g.allow_department if d != dept.id]
        for t in self.tags.values():
            t.partylist = [d for d in t.partylist if d != dept.id]
        self._on_op(29, dept.name, None)

    # --- users

    def _user_fields(self, body: dict[str, Any], user: User | None) -> dict[str, Any]:
        """Validated field values present in `body` (create: user is None)."""
        out: dict[str, Any] = {}
        if "name" in body or user is None:
            out["name"] = _text(body.get("name"), 60112, 64, 1).strip()
            if not out["name"]:
                raise ApiError(60112)
        if "department" in body or user is None:
            depts = body.get("department")
            if isinstance(depts, int | str) and not isinstance(depts, bool):
                depts = [depts]
            ids = _int_list(depts, 60123)
            if not 1 <= len(ids) <= 20 or any(i not in self.departments for i in ids):
                raise ApiError(60123)
            out["department"] = list(dict.fromkeys(ids))
        if "position" in body:
            out["position"] = _text(body["position"], self.invalid_param, 64)
        if "mobile" in body:
            mobile = _text(body["mobile"], 60103, 32)
            if mobile and not _MOBILE.fullmatch(mobile):
                raise ApiError(60103)
            out["mobile"] = mobile
        if "tel" in body:
            tel = _text(body["tel"], 600025, 32)
            if tel and not _TEL.fullmatch(tel):
                raise ApiError(600025)
            out["tel"] = tel
        if "extid" in body:
            extid = _text(body["extid"], 600026, 32)
            if not _EXTID.fullmatch(extid):
                raise ApiError(600026)
            out["extid"] = extid
        if "gender" in body:
            gender = _as_int(body["gender"], 60114)
            if gender not in (0, 1, 2):
                raise ApiError(60114)
            out["gender"] = gender
        for flag in ("cpwd_login", "setvip", "enable"):
            if flag in body and (flag != "enable" or user is not None):
                out[flag] = _flag(body[flag], self.invalid_param)
        if "password" in body:
            out["password"] = self._password(body["password"])
        if "slaves" in body:
            out["slaves"] = self._slaves(body["slaves"], user.userid if user else str(body.get("userid", "")))
        return out

    @staticmethod
    def _password(value: Any) -> str:
        if (not isinstance(value, str) or not 6 <= len(value) <= 32 or not re.search(r"[a-z]", value)
                or not re.search(r"[A-Z]", value) or not re.search(r"[0-9]", value)):
            raise ApiError(600003)
        return value

    def _slaves(self, value: Any, owner: str) -> list[str]:
        if isinstance(value, str):
            value = [value] if value else []
        slaves = [s.lower() for s in _str_list(value, 600004)]
        if len(slaves) > 5:
            raise ApiError(600006)
        owner = owner.lower()
        for alias in slaves:
            if not self.is_corp_address(alias) or alias == owner:
                raise ApiError(600004)
            if alias in self.users or alias in self.groups or self.aliases.get(alias, owner) != owner:
                raise ApiError(600005)
        return list(dict.fromkeys(slaves))

    def create_user(self, body: dict[str, Any]) -> User:
        userid = body.get("userid")
        if not isinstance(userid, str) or not self.is_corp_address(userid.strip()):
            raise ApiError(40003)
        key = userid.strip().lower()
        if key in self.users:
            raise ApiError(60102)
        if key in self.aliases:
            raise ApiError(600001)
        if key in self.groups:
            raise ApiError(600002)
        fields = self._user_fields(body, None)
        if not fields.get("password") and not fields.get("mobile"):
            raise ApiError(600003, "password or mobile required")
        user = User(userid=key, **fields)
        self.users[key] = user
        for alias in user.slaves:
            self.aliases[alias] = key
        self.options[key] = dict(DEFAULT_OPTIONS)
        self._on_op(19, key, None)
        return user

    def update_user(self, body: dict[str, Any]) -> User:
        user = self.user(body.get("userid"))
        fields = self._user_fields(body, user)
        before = user.public()
        enable = fields.pop("enable", None)
        if "slaves" in fields:
            for alias in user.slaves:
                self.aliases.pop(alias, None)
            for alias in fields["slaves"]:
                self.aliases[alias] = user.userid
        for key, value in fields.items():
            setattr(user, key, value)
        after = user.public()
        if enable is not None and enable != user.enable:
            user.enable = enable
            self._on_op(21 if enable else 22, user.userid, None)
        if before["slaves"] != after["slaves"]:
            self._on_op(24, user.userid, None)
        if {k: v for k, v in before.items() if k != "slaves"} != {k: v for k, v in after.items() if k != "slaves"} \
                or "password" in fields:
            self._on_op(23, user.userid, None)
        return user

    def delete_user(self, userid: Any) -> User:
        user = self.user(userid)
        del self.users[user.userid]
        for alias in user.slaves:
            self.aliases.pop(alias, None)
        self.options.pop(user.userid, None)
        for g in self.groups.values():
            g.userlist = [u for u in g.userlist if u != user.userid]
            g.allow_userlist = [u for u in g.allow_userlist if u != user.userid]
        for t in self.tags.values():
            t.userlist = [u for u in t.userlist if u != user.userid]
        self._on_op(20, user.userid, None)
        return user

    def members(self, dept_id: Any, fetch_child: Any) -> list[User]:
        if dept_id is None or dept_id == "":
            raise ApiError(60123)
        dept = self.department(dept_id)
        recurse = _flag(fetch_child, self.invalid_param) if fetch_child not in (None, "") else 0
        scope = set(self.subtree(dept.id)) if recurse else {dept.id}
        return [u for u in self.users.values() if scope & set(u.department)]

    # --- groups

    def _group_fields(self, body: dict[str, Any], group: Group | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """(validated fields present in `body`, invalid_* lists of members dropped in "partial" mode)."""
        out: dict[str, Any] = {}
        invalid: dict[str, Any] = {}
        partial = self.group_invalid_members == "partial"

        def members(key: str, values: list[Any], known: Callable[[Any], bool], code: int, report: str) -> None:
            bad = [v for v in values if not known(v)]
            if bad and not partial:
                raise ApiError(code)
            if bad:
                invalid[report] = [*invalid.get(report, []), *[b for b in bad if b not in invalid.get(report, [])]]
            out[key] = list(dict.fromkeys(v for v in values if known(v)))

        if "groupname" in body or group is None:
            name = body.get("groupname")
            if not isinstance(name, str) or not 1 <= len(name.strip().encode()) <= 64:
                raise ApiError(self.invalid_param, "invalid groupname")
            if GROUP_ILLEGAL & set(name):
                raise ApiError(600019)
            out["groupname"] = name.strip()
        if "userlist" in body:
            members("userlist", [u.lower() for u in _str_list(body["userlist"], 600010)],
                    lambda u: u in self.users, 600016, "invalid_userlist")
        if "grouplist" in body:
            members("grouplist", [g.lower() for g in _str_list(body["grouplist"], 600011)],
                    lambda g: g in self.groups, 600018, "invalid_grouplist")
        if "department" in body:
            members("department", _int_list(body["department"], 600012), lambda d: d in self.departments, 600017,
                    "invalid_departlist")
        if "taglist" in body:
            members("taglist", _int_list(body["taglist"], 40068), lambda t: t in self.tags, 40068,
                    "invalid_taglist")
        if "allow_type" in body or group is None:
            if body.get("allow_type") is None:
                raise ApiError(600013)
            allow = _as_int(body.get("allow_type"), 600013)
            if allow not in (0, 1, 2, 3):
                raise ApiError(600013)
            out["allow_type"] = allow
        if "allow_userlist" in body:
            members("allow_userlist", [u.lower() for u in _str_list(body["allow_userlist"], 600014)],
                    lambda u: u in self.users, 600014, "invalid_userlist")
        if "allow_department" in body:
            members("allow_department", _int_list(body["allow_department"], 600014),
                    lambda d: d in self.departments, 600017, "invalid_departlist")
        if "allow_taglist" in body:
            members("allow_taglist", _int_list(body["allow_taglist"], 600014), lambda t: t in self.tags, 40068,
                    "invalid_taglist")
        return out, invalid

    def _group_depth(self, groupid: str, seen: tuple[str, ...] = ()) -> int:
        if groupid in seen:
            raise ApiError(600020)
        group = self.groups.get(groupid)
        if group is None or not group.grouplist:
            return 1
        return 1 + max(self._group_depth(g, (*seen, groupid)) for g in group.grouplist)

    def _check_group(self, candidate: Group) -> None:
        if not (candidate.userlist or candidate.grouplist or candidate.department or candidate.taglist):
            raise ApiError(600009)
        if candidate.allow_type == 3 and not any(getattr(candidate, k) for k in ALLOW_LISTS):
            raise ApiError(600023)
        if candidate.groupid in candidate.grouplist:
            raise ApiError(600020)
        depth = 1 + max((self._group_depth(g, (candidate.groupid,)) for g in candidate.grouplist), default=0)
        if depth > MAX_GROUP_DEPTH:
            raise ApiError(600021)

    def create_group(self, body: dict[str, Any]) -> dict[str, Any]:
        """Creates the group; returns the invalid_* lists ("partial" mode) for the answer."""
        groupid = body.get("groupid")
        if not isinstance(groupid, str) or not self.is_corp_address(groupid.strip()):
            raise ApiError(600007)
        key = groupid.strip().lower()
        if key in self.groups:
            raise ApiError(600015)
        if key in self.users or key in self.aliases:
            raise ApiError(600024)
        fields, invalid = self._group_fields(body, None)
        group = Group(groupid=key, **fields)
        self._check_group(group)
        if group.allow_type != 3:
            for k in ALLOW_LISTS:
                setattr(group, k, [])
        self.groups[key] = group
        self._on_op(32, key, None)
        return invalid

    def group(self, groupid: Any) -> Group:
        if not isinstance(groupid, str) or not groupid.strip():
            raise ApiError(600007)
        found = self.groups.get(groupid.strip().lower())
        if found is None:
            raise ApiError(600008)
        return found

    def update_group(self, body: dict[str, Any], merge: bool) -> dict[str, Any]:
        """Updates the group; returns the invalid_* lists ("partial" mode) for the answer."""
        group = self.group(body.get("groupid"))
        fields, invalid = self._group_fields(body, group)
        candidate = Group(**asdict(group))
        for key, value in fields.items():
            if merge and isinstance(value, list):
                value = list(dict.fromkeys([*getattr(candidate, key), *value]))
            setattr(candidate, key, value)
        self._check_group(candidate)
        if candidate.allow_type != 3:
            for k in ALLOW_LISTS:
                setattr(candidate, k, [])
        self.groups[group.groupid] = candidate
        self._on_op(34, group.groupid, None)
        return invalid

    def delete_group(self, groupid: Any) -> None:
        group = self.group(groupid)
        del self.groups[group.groupid]
        for g in self.groups.values():
            g.grouplist = [x for x in g.grouplist if x != group.groupid]
        self._on_op(33, group.groupid, None)

    # --- tags

    def tag(self, tagid: Any) -> Tag:
        tid = _as_int(tagid, 40068)
        found = self.tags.get(tid)
        if found is None:
            raise ApiError(40068)
        return found

    def _tagname(self, value: Any, own: int | None) -> str:
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= 32:
            raise ApiError(40071)
        name = value.strip()
        if any(t.tagname == name and t.tagid != own for t in self.tags.values()):
            raise ApiError(40071, "tagname existed")
        return name

    def create_tag(self, body: dict[str, Any]) -> Tag:
        name = self._tagname(body.get("tagname"), None)
        if body.get("tagid") is not None:
            tagid = _as_int(body["tagid"], 40068)
            if tagid < 0 or tagid in self.tags:
                raise ApiError(40068)
        else:
            tagid = max(self.tags, default=0) + 1
        if len(self.tags) >= 3000:
            raise ApiError(self.invalid_param, "tag count exceeds 3000")
        tag = Tag(tagid, name)
        self.tags[tagid] = tag
        return tag

    def update_tag(self, body: dict[str, Any]) -> None:
        tag = self.tag(body.get("tagid"))
        tag.tagname = self._tagname(body.get("tagname"), tag.tagid)

    def delete_tag(self, tagid: Any) -> None:
        tid = self.tag(tagid).tagid
        del self.tags[tid]
        for g in self.groups.values():
            g.taglist = [t for t in g.taglist if t != tid]
            g.allow_taglist = [t for t in g.allow_taglist if t != tid]

    def change_tag_members(self, body: dict[str, Any], add: bool) -> dict[str, Any]:
        tag = self.tag(body.get("tagid"))
        users = [u.lower() for u in _str_list(body.get("userlist"), self.invalid_param)]
        parties = _int_list(body.get("partylist"), self.invalid_param)
        if not users and not parties:
            raise ApiError(40070 if add else 40031)
        if len(users) > 1000 or len(parties) > 100:
            raise ApiError(self.invalid_param, "too many entries")
        bad_users = [u for u in users if u not in self.users or (not add and u not in tag.userlist)]
        bad_parties = [p for p in parties if p not in self.departments or (not add and p not in tag.partylist)]
        good_users = [u for u in users if u not in bad_users]
        good_parties = [p for p in parties if p not in bad_parties]
        if not good_users and not good_parties:
            raise ApiError(40070 if add else 40031)
        if add:
            tag.userlist = list(dict.fromkeys([*tag.userlist, *good_users]))
            tag.partylist = list(dict.fromkeys([*tag.partylist, *good_parties]))
        else:
            tag.userlist = [u for u in tag.userlist if u not in good_users]
            tag.partylist = [p for p in tag.partylist if p not in good_parties]
        extra: dict[str, Any] = {}
        if bad_users:
            extra["invalidlist"] = "|".join(bad_users)
        if bad_parties:
            extra["invalidparty"] = bad_parties
        return extra

    # --- options

    def get_options(self, userid: Any, types: Any) -> list[dict[str, Any]]:
        user = self.user(userid)
        wanted = list(OPTION_TYPES) if types in (None, [], "") else _int_list(
            types if isinstance(types, list) else [types], self.invalid_param)
        if any(t not in OPTION_TYPES for t in wanted):
            raise ApiError(self.invalid_param, "invalid option type")
        opts = self.options.setdefault(user.userid, dict(DEFAULT_OPTIONS))
        return [{"type": t, "value": opts[t]} for t in dict.fromkeys(wanted)]

    def update_options(self, userid: Any, options: Any) -> dict[int, tuple[str, str]]:
        user = self.user(userid)
        if not isinstance(options, list) or not options:
            raise ApiError(self.invalid_param, "option list missing")
        changes: dict[int, str] = {}
        for item in options:
            if not isinstance(item, dict):
                raise ApiError(self.invalid_param, "invalid option")
            otype = _as_int(item.get("type"), self.invalid_param)
            value = item.get("value")
            if isinstance(value, int) and not isinstance(value, bool):
                value = str(value)
            if otype not in OPTION_TYPES or value not in ("0", "1"):
                raise ApiError(self.invalid_param, "invalid option")
            if otype in READONLY_OPTIONS:
                raise ApiError(self.invalid_param, "option type 4 is read-only")
            changes[otype] = value
        opts = self.options.setdefault(user.userid, dict(DEFAULT_OPTIONS))
        changed = {t: (opts[t], v) for t, v in changes.items() if opts[t] != v}
        opts.update(changes)
        if changed:
            self._on_op(23, user.userid, None)
        return changed

    def dump(self) -> dict[str, Any]:
        return {
            "departments": [asdict(d) for d in self.departments.values()],
            "users": [u.public() for u in self.users.values()],
            "groups": [asdict(g) for g in self.groups.values()],
            "tags": [asdict(t) for t in self.tags.values()],
            "aliases": dict(self.aliases),
        }


class LogStore:
    """The log kinds of the stream catalog, indexed by (kind, local date of `time`)."""

    KINDS = tuple(s.kind for s in streams.log_kinds())

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._by_date: dict[str, dict[str, list[LogEntry]]] = {k: {} for k in self.KINDS}
        self._seq = 0

    def add(self, kind: str, record: dict[str, Any], visible_at: int | None = None, userid: str | None = None,
            origin: str = "traffic") -> LogEntry:
        t = int(record["time"])
        self._seq += 1
        entry = LogEntry(kind, record, t, max(t, int(visible_at if visible_at is not None else t)), self._seq,
                         self._clock.date_of(t), userid, origin)
        bisect.insort(self._by_date[kind].setdefault(entry.date, []), entry, key=lambda e: (e.time, e.seq))
        return entry

    def entries(self, kind: str, dates: Iterable[str]) -> list[LogEntry]:
        out: list[LogEntry] = []
        store = self._by_date[kind]
        for d in dates:
            out.extend(store.get(d, ()))
        return out

    def dates(self, kind: str) -> list[str]:
        return sorted(self._by_date[kind])

    def count(self, kind: str) -> int:
        return sum(len(v) for v in self._by_date[kind].values())


class Mailboxes:
    """Mails per user; unread count at a time t counts mails arrived by t and not read by t."""

    def __init__(self) -> None:
        self.mails: dict[str, list[Mail]] = {}
        self.by_id: dict[str, Mail] = {}

    def deliver(self, mail: Mail) -> None:
        bisect.insort(self.mails.setdefault(mail.userid, []), mail, key=lambda m: (m.time, m.seq))
        self.by_id[mail.mail_id] = mail

    def unread(self, userid: str, at: float, begin: float | None = None, end: float | None = None) -> int:
        count = 0
        for m in self.mails.get(userid, ()):
            if m.time > at or (m.read_at is not None and m.read_at <= at):
                continue
            if (begin is not None and m.time < begin) or (end is not None and m.time >= end):
                continue
            count += 1
        return count
