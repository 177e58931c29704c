"""Fixtures for the actions tests: a small in-memory Exmail (the client methods the actions use, with the
reference's errcodes and fault injection), a settable clock, and a harness that builds services over one
shared ledger store, so "restart the worker" is "build another service"."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pipeline.actions import (
    ActionsConfig,
    ActionService,
    FileDropChannel,
    MemoryActionOutput,
    MemoryLedgerStore,
)
from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.exmail import ExmailError, error_for
from pipeline.exmail.models import (
    Department,
    DepartmentCreate,
    Group,
    GroupUpdate,
    GroupWriteResult,
    User,
    UserCreate,
    UserOption,
    UserOptionSetting,
    UserOptionType,
    UserUpdate,
)

CORP = "wm0123456789abcdef"
DOMAIN = "corp.example.com"
APPROVAL_SECRET = "approval-secret-0123456789abcdef"
API_TOKEN = "operator-token-123"
T0 = 1_767_580_000.0


class Crash(BaseException):
    """The worker process dies here (not an Exception: nothing may catch it)."""


@dataclass
class Fault:
    endpoint: str
    error: BaseException
    when: str = "before"
    times: int = 1


class FakeExmail:
    """Departments, users, aliases, groups and options with the reference's codes (60102, 600001, 600002,
    60111, 60003, 60008...). Writes are logged in `writes`; passwords the API received in `passwords`."""

    def __init__(self) -> None:
        self.departments: dict[int, dict[str, Any]] = {
            1: {"id": 1, "name": "Corp", "parentid": 0, "order": 0}
        }
        self.users: dict[str, dict[str, Any]] = {}
        self.aliases: dict[str, str] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.options: dict[str, dict[int, str]] = {}
        self.writes: list[tuple[str, dict[str, Any]]] = []
        self.reads: list[str] = []
        self.passwords: list[str] = []
        self.faults: list[Fault] = []
        self._next_id = 4913577855806636000

    # --- setup helpers

    def add_department(self, name: str, parent: int = 1) -> int:
        self._next_id += 1
        self.departments[self._next_id] = {"id": self._next_id, "name": name, "parentid": parent, "order": 0}
        return self._next_id

    def add_user(self, userid: str, name: str, department: int = 1, **fields: Any) -> None:
        self.users[userid] = {
            "userid": userid,
            "name": name,
            "department": [department],
            "position": "",
            "mobile": "",
            "tel": "",
            "extid": "",
            "gender": "0",
            "enable": 1,
            "slaves": [],
            "cpwd_login": 0,
            **fields,
        }
        for alias in self.users[userid]["slaves"]:
            self.aliases[alias] = userid
        self.options[userid] = {1: "0", 2: "1", 3: "1", 4: "0"}

    def add_group(self, groupid: str, userlist: list[str], **fields: Any) -> None:
        self.groups[groupid] = {
            "groupid": groupid,
            "groupname": groupid.split("@")[0],
            "userlist": list(userlist),
            "grouplist": [],
            "department": [],
            "allow_type": 0,
            "allow_userlist": [],
            **fields,
        }

    def fault(self, endpoint: str, error: BaseException, when: str = "before", times: int = 1) -> None:
        self.faults.append(Fault(endpoint, error, when, times))

    def path_of(self, department_id: int) -> str:
        names = []
        current = self.departments.get(department_id)
        while current is not None and current["id"] != 1:
            names.append(current["name"])
            current = self.departments.get(current["parentid"])
        return "/".join(reversed(names))

    def write_endpoints(self) -> list[str]:
        return [endpoint for endpoint, _ in self.writes]

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(
            {
                "departments": self.departments,
                "users": self.users,
                "groups": self.groups,
                "options": self.options,
                "aliases": self.aliases,
            }
        )

    # --- plumbing

    def _check(self, endpoint: str, when: str) -> None:
        for fault in self.faults:
            if fault.endpoint == endpoint and fault.when == when and fault.times > 0:
                fault.times -= 1
                raise fault.error

    @staticmethod
    def _error(code: int, endpoint: str) -> ExmailError:
        return error_for(code, "error", endpoint)

    def _write(self, endpoint: str, body: dict[str, Any]) -> None:
        shown = {k: ("<password>" if k == "password" else v) for k, v in body.items()}
        self.writes.append((endpoint, shown))

    # --- the API

    async def department_list(self, department_id: int | None = None) -> list[Department]:
        self._check("department/list", "before")
        self.reads.append("department/list")
        return [Department.model_validate(d) for d in self.departments.values()]

    async def department_create(self, request: DepartmentCreate) -> int:
        self._check("department/create", "before")
        body = request.wire()
        if body["parentid"] not in self.departments:
            raise self._error(60004, "department/create")
        if any(
            d["parentid"] == body["parentid"] and d["name"] == body["name"] for d in self.departments.values()
        ):
            raise self._error(60008, "department/create")
        new_id = self.add_department(body["name"], body["parentid"])
        self._write("department/create", body)
        self._check("department/create", "after")
        return new_id

    async def user_get(self, userid: str) -> User:
        self._check("user/get", "before")
        self.reads.append("user/get")
        user = self.users.get(userid.lower())
        if user is None:
            raise error_for(60111, "userid not found", "user/get")
        return User.model_validate(user)

    async def user_create(self, request: UserCreate) -> None:
        self._check("user/create", "before")
        body = request.wire()
        userid = body["userid"].lower()
        if userid in self.users:
            raise self._error(60102, "user/create")
        if userid in self.aliases:
            raise self._error(600001, "user/create")
        if userid in self.groups:
            raise self._error(600002, "user/create")
        if any(d not in self.departments for d in body["department"]):
            raise self._error(60123, "user/create")
        for alias in body.get("slaves", []):
            if alias in self.users or alias in self.groups or alias in self.aliases:
                raise self._error(600005, "user/create")
        password = body.get("password")
        if password is not None:
            self.passwords.append(password)
        fields = {k: v for k, v in body.items() if k not in ("userid", "name", "department", "password")}
        self.add_user(userid, body["name"], body["department"][0], **fields)
        self.users[userid]["department"] = list(body["department"])
        self._write("user/create", body)
        self._check("user/create", "after")

    async def user_update(self, request: UserUpdate) -> None:
        self._check("user/update", "before")
        body = request.wire()
        user = self.users.get(body["userid"].lower())
        if user is None:
            raise error_for(60111, "userid not found", "user/update")
        if "password" in body:
            self.passwords.append(body["password"])
        for key, value in body.items():
            if key not in ("userid", "password"):
                user[key] = value
        self._write("user/update", body)
        self._check("user/update", "after")

    async def user_delete(self, userid: str) -> None:
        self._check("user/delete", "before")
        if userid.lower() not in self.users:
            raise error_for(60111, "userid not found", "user/delete")
        del self.users[userid.lower()]
        self.options.pop(userid.lower(), None)
        self._write("user/delete", {"userid": userid})
        self._check("user/delete", "after")

    async def group_get(self, groupid: str) -> Group:
        self.reads.append("group/get")
        group = self.groups.get(groupid.lower())
        if group is None:
            raise self._error(600008, "group/get")
        return Group.model_validate(group)

    async def group_update(self, request: GroupUpdate) -> GroupWriteResult:
        self._check("group/update", "before")
        body = request.wire()
        group = self.groups.get(body["groupid"].lower())
        if group is None:
            raise self._error(600008, "group/update")
        for key, value in body.items():
            if key != "groupid":
                group[key] = value
        self._write("group/update", body)
        return GroupWriteResult()

    async def useroption_get(self, userid: str, types: Any = tuple(UserOptionType)) -> list[UserOption]:
        self._check("useroption/get", "before")
        self.reads.append("useroption/get")
        opts = self.options.get(userid.lower())
        if opts is None:
            raise error_for(60111, "userid not found", "useroption/get")
        return [UserOption.model_validate({"type": int(t), "value": opts[int(t)]}) for t in types]

    async def useroption_update(self, userid: str, options: Any) -> None:
        self._check("useroption/update", "before")
        opts = self.options.get(userid.lower())
        if opts is None:
            raise error_for(60111, "userid not found", "useroption/update")
        items = options.items() if isinstance(options, dict) else [(s.type, s.value) for s in options]
        settings = [UserOptionSetting(type=t, value=v) for t, v in items]
        for s in settings:
            opts[int(s.type)] = s.value
        self._write(
            "useroption/update", {"userid": userid, "option": {int(s.type): s.value for s in settings}}
        )
        self._check("useroption/update", "after")


@dataclass
class Clock:
    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Harness:
    """Builds services (one per simulated worker process) over one ledger store, Exmail and output."""

    tmp: Path
    fake: FakeExmail = field(default_factory=FakeExmail)
    store: MemoryLedgerStore = field(default_factory=MemoryLedgerStore)
    output: MemoryActionOutput = field(default_factory=MemoryActionOutput)
    clock: Clock = field(default_factory=Clock)
    config_data: dict[str, Any] = field(default_factory=dict)
    group_source: Callable[[str], Any] | None = None
    channel: Any = None

    @property
    def drop_dir(self) -> Path:
        return self.tmp / "drop"

    def config(self, **overrides: Any) -> ActionsConfig:
        base: dict[str, Any] = {
            "dry_run": False,
            "admins": [f"admin@{DOMAIN}"],
            "allow_list": [f"vip@{DOMAIN}", "@partner.example.org"],
            "approval": {
                "secret": "env:ACTIONS_TEST_APPROVAL_SECRET",
                "ttl": "1h",
                "base_url": "https://ingest.example.com/actions",
            },
            "hr": {
                "create_departments": True,
                "leaver_grace": "7d",
                "groups": [f"team@{DOMAIN}"],
                "delivery": {"type": "file", "dir": str(self.drop_dir)},
            },
            "security": {
                "routes": [
                    {"name": "hostile", "rules": ["login_hostile_ip"], "actions": ["disable_account"]},
                    {
                        "name": "mail-protocols",
                        "rules": ["imap_abuse"],
                        "actions": ["disable_imap", "disable_pop", "force_secure_login"],
                    },
                    {"name": "approve", "rules": ["needs_approval"], "approval": True},
                ]
            },
            "drift": {"remediate": True},
        }
        _merge(base, self.config_data)
        _merge(base, overrides)
        return ActionsConfig.model_validate(base)

    async def awaiting_approval(self, target: str = f"user1@{DOMAIN}") -> tuple[ActionService, Any]:
        """A service and an action of it that waits for an approval (rule needs_approval)."""
        service = self.service()
        entry = await service.handle_alert(self.alert("needs_approval", target))
        return service, entry

    def service(self, **overrides: Any) -> ActionService:
        secrets = {
            "env:ACTIONS_TEST_APPROVAL_SECRET": APPROVAL_SECRET,
            "env:ACTIONS_TEST_API_TOKEN": API_TOKEN,
        }
        extra: dict[str, Any] = {"channel": self.channel} if self.channel is not None else {}
        return ActionService(
            self.config(**overrides),
            {CORP: self.fake},
            self.store,
            self.output,
            clock=self.clock,
            resolve=secrets.__getitem__,
            group_source=self.group_source,
            **extra,
        )

    def hr(
        self, event: str, userid: str, request_id: str = "REQ-1", employee_id: str = "E1001", **fields: Any
    ) -> Envelope:
        data = {
            "event": event,
            "request_id": request_id,
            "employee_id": employee_id,
            "userid": userid,
            "name": None,
            "department_path": None,
            "position": None,
            "mobile": None,
            "aliases": [],
            "effective_at": None,
            **fields,
        }
        return Envelope(
            schema="hr.lifecycle/1",
            id=fingerprint("hr", CORP, request_id),
            corp_id=CORP,
            source="pipeline.sources.hr",
            occurred_at=utc_iso(self.clock.now),
            data=data,
        )

    def alert(
        self,
        rule: str,
        user: str,
        action: str | None = "disable_account",
        status: str = "firing",
        starts_at: float | None = None,
        **labels: str,
    ) -> Envelope:
        all_labels = {"alertname": rule, "corp": CORP, "user": user, "severity": "critical", **labels}
        fp = fingerprint("exmail.alert", rule, sorted(all_labels.items()))
        start = utc_iso(starts_at if starts_at is not None else self.clock.now)
        data = {
            "fingerprint": fp,
            "status": status,
            "rule": rule,
            "labels": all_labels,
            "annotations": {"summary": f"{rule} for {user}"},
            "starts_at": start,
            "ends_at": utc_iso(self.clock.now + 300),
            "event_ids": [],
            "action": action,
            "sso_user": None,
        }
        return Envelope(
            schema="exmail.alert/1",
            id=fingerprint("exmail.alert/1", fp, start, status),
            corp_id=CORP,
            source="pipeline.transforms.rules",
            occurred_at=start,
            data=data,
        )

    def options(self, userid: str, drift: list[dict[str, Any]]) -> Envelope:
        data = {"userid": userid, "options": {}, "previous": None, "changed": {}, "drift": drift}
        return Envelope(
            schema="exmail.raw.options/1",
            id=fingerprint("options", CORP, userid, drift),
            corp_id=CORP,
            source="pipeline.sources.options",
            occurred_at=utc_iso(self.clock.now),
            data=data,
        )

    def statuses(self, action_id: str | None = None) -> list[str]:
        return [
            r.data["status"]
            for r in self.output.records
            if action_id is None or r.data["action_id"] == action_id
        ]


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    h = Harness(tmp=tmp_path)
    h.fake.add_user(f"admin@{DOMAIN}", "Admin")
    h.fake.add_user(f"vip@{DOMAIN}", "VIP")
    rd = h.fake.add_department("R&D")
    h.fake.add_department("Sales")
    for i in range(1, 9):
        h.fake.add_user(f"user{i}@{DOMAIN}", f"User {i}", rd)
    h.fake.add_group(f"team@{DOMAIN}", [f"user1@{DOMAIN}", f"user2@{DOMAIN}"])
    return h


@pytest.fixture
def crash() -> type[BaseException]:
    return Crash


@pytest.fixture
def file_channel(tmp_path: Path) -> FileDropChannel:
    return FileDropChannel(tmp_path / "drop")
