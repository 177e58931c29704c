"""One execution (or dry run, or undo) of an action: every API call goes through `read`/`write`, which
record it on the ledger entry; a write is persisted as "sent" before it goes out, so a crash leaves a trace
("unknown" outcome after resume) and the next attempt re-reads the state instead of repeating blindly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pipeline.actions.model import ActionRequest, CallKind, CallRecord, LedgerEntry, redact
from pipeline.exmail import ExmailError, NotFound
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

T = TypeVar("T")


class ExmailApi(Protocol):
    """The part of pipeline.exmail.ExmailClient the actions use (a fake can stand in for tests)."""

    async def department_list(self, department_id: int | None = None) -> list[Department]: ...

    async def department_create(self, request: DepartmentCreate) -> int: ...

    async def user_get(self, userid: str) -> User: ...

    async def user_create(self, request: UserCreate) -> None: ...

    async def user_update(self, request: UserUpdate) -> None: ...

    async def user_delete(self, userid: str) -> None: ...

    async def group_get(self, groupid: str) -> Group: ...

    async def group_update(self, request: GroupUpdate) -> GroupWriteResult: ...

    async def useroption_get(self, userid: str, types: Any = ...) -> list[UserOption]: ...

    async def useroption_update(
        self, userid: str, options: list[UserOptionSetting] | dict[UserOptionType, str]
    ) -> None: ...


class ActionFailed(Exception):
    """The action cannot succeed as requested (permanent); `reason` is shown to operators."""

    def __init__(self, reason: str, errcode: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.errcode = errcode


class ActionSkipped(Exception):
    """The action should not run (any more); not a failure."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outcome:
    detail: str


class Run:
    def __init__(
        self,
        entry: LedgerEntry,
        client: ExmailApi,
        *,
        dry_run: bool,
        now: float,
        persist: Callable[[], Awaitable[None]],
        calls: list[CallRecord] | None = None,
    ) -> None:
        self.entry = entry
        self.client = client
        self.dry_run = dry_run
        self.now = now
        self._persist = persist
        self.calls = entry.calls if calls is None else calls

    def __repr__(self) -> str:
        return f"Run({self.entry.id!r}, dry_run={self.dry_run})"

    @property
    def request(self) -> ActionRequest:
        return self.entry.request

    @property
    def target(self) -> str:
        return self.entry.request.target

    @property
    def corp_id(self) -> str:
        return self.entry.request.corp_id

    @property
    def params(self) -> dict[str, Any]:
        return self.entry.request.params

    @property
    def before(self) -> dict[str, Any]:
        return self.entry.before

    @property
    def progress(self) -> dict[str, Any]:
        return self.entry.progress

    def _record(
        self, endpoint: str, method: str, kind: CallKind, params: dict[str, Any], purpose: str, outcome: Any
    ) -> CallRecord:
        call = CallRecord(
            endpoint=endpoint,
            method=method,
            kind=kind,
            params=redact(params),
            purpose=purpose,
            outcome=outcome,
            at=self.now,
            attempt=self.entry.attempts,
        )
        self.calls.append(call)
        return call

    async def read(
        self, endpoint: str, method: str, params: dict[str, Any], call: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            result = await call()
        except ExmailError as exc:
            rec = self._record(endpoint, method, "read", params, "", "error")
            rec.errcode, rec.error = exc.errcode, str(exc)
            raise
        self._record(endpoint, method, "read", params, "", "ok")
        return result

    async def write(
        self,
        endpoint: str,
        method: str,
        params: dict[str, Any],
        purpose: str,
        call: Callable[[], Awaitable[T]],
    ) -> T | None:
        """Run a changing call (or only record it in a dry run, returning None)."""
        if self.dry_run:
            self._record(endpoint, method, "write", params, purpose, "planned")
            return None
        rec = self._record(endpoint, method, "write", params, purpose, "sent")
        await self._persist()
        try:
            result = await call()
        except ExmailError as exc:
            rec.outcome, rec.errcode, rec.error = "error", exc.errcode, str(exc)
            await self._persist()
            raise
        rec.outcome = "ok"
        await self._persist()
        return result

    async def deliver(
        self, channel: str, params: dict[str, Any], call: Callable[[], Awaitable[str]]
    ) -> str | None:
        """Hand a credential to a secure channel, recorded like a call (never with the secret)."""
        if self.dry_run:
            self._record(
                f"channel:{channel}", "DELIVER", "delivery", params, "deliver the initial password", "planned"
            )
            return None
        rec = self._record(
            f"channel:{channel}", "DELIVER", "delivery", params, "deliver the initial password", "sent"
        )
        await self._persist()
        try:
            receipt = await call()
        except Exception as exc:
            rec.outcome, rec.error = "error", str(exc)
            await self._persist()
            raise
        rec.outcome = "ok"
        rec.params = {**rec.params, "receipt": receipt}
        await self._persist()
        return receipt

    async def user(self, userid: str) -> User | None:
        """user/get, None when the account does not exist."""
        try:
            return await self.read(
                "user/get", "GET", {"userid": userid}, lambda: self.client.user_get(userid)
            )
        except NotFound:
            return None
