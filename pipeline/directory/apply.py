"""Applying an import plan: resumable, idempotent, one exmail.actions record per op.

Every op converges: it compares what it wants with the live directory (read at the start of the run and kept
current as ops succeed) and calls only what still differs. A fresh run makes exactly the planned calls; a run
resumed after a kill re-reads the directory, so ops that reached Exmail before the kill find nothing to do and
are recorded as done ("confirmed on resume") without a second call. Per op the journal gets `sent` before the
first call, the record goes to exmail.actions, then the journal gets `done`/`rejected`: a record re-sent after
a kill keeps its id.

A refused op (Exmail errcode) is rejected with the errcode's meaning and a fix hint; ops that depend on it (a
user in a department whose creation was refused) are rejected with that reason. Failures that say nothing
about the row (bad credentials, rate limit or transport failures after the client's retries, Kafka down) stop
the run; the same command resumes it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import SecretStr
from pydantic import ValidationError as ModelError

from pipeline.actions import ActionKind, ActionOutput, CallRecord
from pipeline.actions.model import operator_record, redact
from pipeline.apiconsole import explain
from pipeline.directory._journal import Journal
from pipeline.directory._live import ROOT_ID, LiveDirectory
from pipeline.directory.model import Rejected
from pipeline.directory.plan import Op, Plan
from pipeline.envelope import record_key
from pipeline.exmail import ENDPOINTS, AuthError, ExmailClient, ExmailError, Gender
from pipeline.exmail.models import (
    AllowType,
    DepartmentCreate,
    DepartmentUpdate,
    GroupCreate,
    GroupUpdate,
    UserCreate,
    UserUpdate,
    as_int,
)

SOURCE = "pipeline.directory"
T = TypeVar("T")


class Interrupted(RuntimeError):
    """The run stopped for a reason unrelated to any row; rerunning the same command resumes it."""


class _Refused(Exception):
    """An op cannot run (dependency missing, invalid request); becomes a rejected row."""

    def __init__(self, reason: str, errcode: int | None = None, meaning: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.errcode, self.meaning, self.hint = reason, errcode, meaning, hint


@dataclass(slots=True)
class ApplyReport:
    changed: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: list[Rejected] = field(default_factory=list)


ProgressFn = Callable[[Op, str], None]


class _Runner:
    def __init__(self, plan: Plan, client: ExmailClient, live: LiveDirectory, passwords: dict[str, SecretStr],
                 clock: Callable[[], float]) -> None:
        self.plan, self.client, self.live, self.passwords, self.clock = plan, client, live, passwords, clock
        self.calls: list[CallRecord] = []

    async def _write(self, endpoint: str, params: dict[str, Any], purpose: str, call: Awaitable[T]) -> T:
        """Await one write call and record it (params redacted); a refusal becomes _Refused."""
        method = ENDPOINTS[endpoint].method
        try:
            result = await call
        except AuthError as exc:
            raise Interrupted(f"{endpoint}: {exc} (check the contact app's secret)") from None
        except ExmailError as exc:
            if exc.retryable:
                raise Interrupted(f"{endpoint}: {exc} after the client's retries; rerun to resume") from None
            self.calls.append(CallRecord(endpoint=endpoint, method=method, kind="write", params=redact(params),
                                         purpose=purpose, outcome="error", errcode=exc.errcode,
                                         error=str(exc), at=self.clock()))
            meaning, hint = explain(exc.errcode, ENDPOINTS[endpoint], exc)
            reason = f"Exmail refused {endpoint}" + (f": {exc.errmsg}" if exc.errmsg else "")
            raise _Refused(reason, exc.errcode, meaning, hint) from None
        self.calls.append(CallRecord(endpoint=endpoint, method=method, kind="write", params=redact(params),
                                     purpose=purpose, outcome="ok", at=self.clock()))
        return result

    # ------------------------------------------------------------ departments

    def _dept_id(self, path: str) -> int:
        found = self.live.resolve(path)
        if found is None:
            raise _Refused(f"department {path!r} does not exist (was its creation refused?)")
        return found

    def _parent(self, path: str) -> tuple[int, str]:
        parent, _, name = path.rpartition("/")
        return (self._dept_id(parent) if parent else ROOT_ID), name

    async def department(self, op: Op) -> bool:
        d = op.desired
        if op.action == "create":
            if self.live.resolve(op.key) is not None:
                return False
            parentid, name = self._parent(op.key)
            try:
                req = DepartmentCreate(name=name, parentid=parentid, order=d.get("order"))
            except ModelError as exc:
                raise _Refused(_model_error(exc)) from None
            new_id = await self._write("department/create", req.wire(), f"create {op.key}",
                                       self.client.department_create(req))
            self.live.departments[new_id] = {"id": new_id, "name": name, "parentid": parentid,
                                             "order": d.get("order") or 0}
            self.live.reindex()
            return True
        if op.action == "delete":
            dept_id = self.live.resolve(op.key)
            if dept_id is None:
                return False
            await self._write("department/delete", {"id": dept_id}, f"delete {op.key}",
                              self.client.department_delete(dept_id))
            self.live.departments.pop(dept_id, None)
            self.live.reindex()
            return True
        dept_id = int(d["id"])
        current = self.live.departments.get(dept_id)
        if current is None:
            raise _Refused(f"department id {dept_id} no longer exists", 60003, "department does not exist")
        body: dict[str, Any] = {}
        if "path" in d:
            parentid, name = self._parent(str(d["path"]))
            if name != current.get("name"):
                body["name"] = name
            if parentid != as_int(current.get("parentid") or 0):
                body["parentid"] = parentid
        if "order" in d and int(d["order"]) != as_int(current.get("order") or 0):
            body["order"] = int(d["order"])
        if not body:
            return False
        update = DepartmentUpdate(id=dept_id, **body)
        await self._write("department/update", update.wire(), f"{op.action} {op.key}",
                          self.client.department_update(update))
        current.update(body)
        self.live.reindex()
        return True

    # ------------------------------------------------------------ users

    def _user_body(self, fields: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "department":
                body[name] = [self._dept_id(p) for p in value]
            elif name == "gender":
                body[name] = Gender(int(value))
            elif name in ("name", "position", "mobile", "tel", "extid", "slaves", "enable", "cpwd_login", "setvip"):
                body[name] = value
        return body

    def _remember_user(self, userid: str, body: dict[str, Any]) -> None:
        raw = self.live.users.setdefault(userid, {"userid": userid, "enable": 1})
        for name, value in body.items():
            if name != "password":
                raw[name] = int(value) if isinstance(value, Gender) else value

    async def user(self, op: Op) -> bool:
        userid = op.key
        current = self.live.users.get(userid)
        if op.action == "delete":
            if current is None:
                return False
            await self._write("user/delete", {"userid": userid}, "delete", self.client.user_delete(userid))
            self.live.users.pop(userid, None)
            return True
        wanted = {k: v for k, v in op.desired.items() if k not in ("userid", "password_from_file")}
        if current is None and op.action != "create":
            raise _Refused("the account no longer exists", 60111, "UserID does not exist")
        if current is None:
            enable = wanted.pop("enable", 1)
            body = self._user_body(wanted)
            password = self.passwords.get(userid)
            try:
                create = UserCreate(userid=userid, password=password, **body)
            except ModelError as exc:
                raise _Refused(_model_error(exc)) from None
            await self._write("user/create", create.wire(), "create", self.client.user_create(create))
            self._remember_user(userid, body)
            if enable == 0:
                await self._write("user/update", {"userid": userid, "enable": 0}, "create disabled",
                                  self.client.user_update(UserUpdate(userid=userid, enable=0)))
                self._remember_user(userid, {"enable": 0})
            return True
        view = self.live.user_view(current)
        differing = {k: v for k, v in wanted.items() if view.get(k) != v}
        if not differing:
            return False
        body = self._user_body(differing)
        try:
            update = UserUpdate(userid=userid, **body)
        except ModelError as exc:
            raise _Refused(_model_error(exc)) from None
        await self._write("user/update", update.wire(), op.action, self.client.user_update(update))
        self._remember_user(userid, body)
        return True

    # ------------------------------------------------------------ groups

    def _group_body(self, fields: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "department":
                body[name] = [self._dept_id(p) for p in value]
            elif name == "allow_type":
                body[name] = AllowType(int(value))
            elif name in ("groupname", "userlist", "grouplist", "allow_userlist"):
                body[name] = value
        return body

    async def group(self, op: Op) -> bool:
        groupid = op.key
        current = self.live.groups.get(groupid)
        if op.action == "delete":
            if current is None:
                return False
            await self._write("group/delete", {"groupid": groupid}, "delete", self.client.group_delete(groupid))
            self.live.groups.pop(groupid, None)
            return True
        wanted = {k: v for k, v in op.desired.items() if k != "groupid"}
        if current is None:
            body = self._group_body(wanted)
            body.setdefault("allow_type", AllowType.ENTERPRISE_MEMBERS)
            try:
                create = GroupCreate(groupid=groupid, **body)
            except ModelError as exc:
                raise _Refused(_model_error(exc)) from None
            await self._write("group/create", create.wire(), "create", self.client.group_create(create))
        else:
            view = self.live.group_view(current)
            differing = {k: v for k, v in wanted.items() if view.get(k) != v}
            if not differing:
                return False
            body = self._group_body(differing)
            update = GroupUpdate(groupid=groupid, **body)
            await self._write("group/update", update.wire(), "update", self.client.group_update(update))
        raw = self.live.groups.setdefault(groupid, {"groupid": groupid})
        raw.update({k: int(v) if isinstance(v, AllowType) else v for k, v in body.items()})
        return True


def _model_error(exc: ModelError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors())


def _target(op: Op) -> str:
    return f"department:{op.key}" if op.object == "department" else op.key


async def apply_plan(plan: Plan, client: ExmailClient, live: LiveDirectory, journal: Journal,
                     output: ActionOutput, *, passwords: dict[str, SecretStr], requested_by: str,
                     progress: ProgressFn | None = None, clock: Callable[[], float] = time.time) -> ApplyReport:
    """Run every op the journal does not mark finished. Raises Interrupted when the run must stop."""
    report = ApplyReport()
    runner = _Runner(plan, client, live, passwords, clock)
    handlers = {"department": runner.department, "user": runner.user, "group": runner.group}
    for op in plan.ops:
        state = journal.state(op.id)
        if state in ("done", "rejected"):
            report.skipped += 1
            if progress:
                progress(op, "skipped")
            continue
        resumed = state == "sent"
        journal.mark(op.id, "sent", at=clock())
        runner.calls = []
        rejected: Rejected | None = None
        try:
            changed = await handlers[op.object](op)
        except _Refused as refusal:
            changed = False
            rejected = Rejected(op.where, op.line, op.object, op.key, refusal.reason, refusal.errcode,
                                refusal.meaning, refusal.hint)
        detail: str | None
        result: str | None
        if rejected is None and not changed and resumed:
            detail = "applied before an interruption; confirmed on resume"
            result = "changed"
        else:
            detail = None if rejected is None else rejected.reason
            result = None if rejected is not None else "changed" if changed else "unchanged"
        now = clock()
        envelope = operator_record(
            kind=ActionKind.DIRECTORY_IMPORT, corp_id=plan.corp_id, target=_target(op), requested_by=requested_by,
            reason=f"{op.action} {op.object} from {plan.source} ({op.where})",
            trigger_ref=f"directory-import:{plan.id}",
            params={"op": op.action, "object": op.object, "name": op.key, "changes": op.changes,
                    "where": op.where, "plan_id": plan.id},
            calls=runner.calls, failed=rejected is not None, result=result, detail=detail,
            errcode=rejected.errcode if rejected else None,
            error=(f"{rejected.reason}" + (f" ({rejected.meaning})" if rejected.meaning else "")) if rejected
            else None,
            source=SOURCE, now=now)
        try:
            await output.record(record_key(plan.corp_id, _target(op)), envelope)
        except Exception as exc:  # the record must land before the op counts as done
            raise Interrupted(f"recording on exmail.actions failed ({type(exc).__name__}: {exc}); "
                              "rerun to resume") from None
        if rejected is not None:
            journal.mark(op.id, "rejected", at=now, **{k: v for k, v in rejected.to_dict().items()
                                                       if k in ("reason", "errcode", "meaning", "hint")})
            report.rejected.append(rejected)
        else:
            journal.mark(op.id, "done", at=now, result=result)
            if result == "changed":
                report.changed += 1
            else:
                report.unchanged += 1
        if progress:
            progress(op, "rejected" if rejected else str(result))
    return report
