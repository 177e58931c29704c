"""What each action kind does, written as "read the current state, change only what differs", so a dry run
shows the plan, a replay changes nothing, and a resumed action after a crash converges without repeating
side effects. Undo procedures restore what `before` recorded."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from pipeline.actions._departments import DepartmentResolver
from pipeline.actions._run import ActionFailed, ActionSkipped, Outcome, Run
from pipeline.actions.channels import Credential, SecretChannel
from pipeline.actions.config import ActionKind, ActionsConfig
from pipeline.actions.passwords import generate_password
from pipeline.exmail import NotFound, ValidationError
from pipeline.exmail.models import Group, GroupUpdate, User, UserCreate, UserOptionType, UserUpdate

GroupSource = Callable[[str], Awaitable[Iterable[str]]]

OPTION_TARGETS: dict[ActionKind, dict[int, str]] = {
    ActionKind.FORCE_SECURE_LOGIN: {1: "1"},
    ActionKind.DISABLE_IMAP: {2: "0"},
    ActionKind.DISABLE_POP: {3: "0"},
}
USERID_EXISTS = 60102
_EXTID = re.compile(r"[A-Za-z0-9_\-]{1,32}")


def _same_set(a: Iterable[str], b: Iterable[str]) -> bool:
    return {x.lower() for x in a} == {x.lower() for x in b}


class Procedures:
    def __init__(
        self,
        config: ActionsConfig,
        departments: DepartmentResolver,
        channel: SecretChannel | None,
        group_source: GroupSource | None,
    ) -> None:
        self.config = config
        self.hr = config.hr
        self.departments = departments
        self.channel = channel
        self.group_source = group_source

    def __repr__(self) -> str:
        return f"Procedures(channel={self.channel!r})"

    async def run(self, run: Run) -> Outcome:
        kind = run.request.kind
        if kind is ActionKind.JOINER:
            return await self.joiner(run)
        if kind is ActionKind.MOVER:
            return await self.mover(run)
        if kind is ActionKind.LEAVER:
            return await self.leaver(run)
        if kind is ActionKind.LEAVER_DELETE:
            return await self.leaver_delete(run)
        if kind is ActionKind.DISABLE_ACCOUNT:
            return await self.disable_account(run)
        if kind is ActionKind.REMEDIATE_DRIFT:
            desired = {int(t): str(v) for t, v in run.params.get("desired", {}).items()}
            return await self.set_options(run, desired)
        return await self.set_options(run, OPTION_TARGETS[kind])

    async def undo(self, run: Run) -> Outcome:
        kind = run.request.kind
        if kind in (ActionKind.DISABLE_ACCOUNT, ActionKind.LEAVER):
            return await self.undo_disable(run)
        if kind is ActionKind.MOVER:
            return await self.undo_mover(run)
        if kind in OPTION_TARGETS or kind is ActionKind.REMEDIATE_DRIFT:
            return await self.undo_options(run)
        raise ActionFailed(f"{kind.value} actions cannot be undone")

    # ------------------------------------------------------------------ helpers

    async def _existing(self, run: Run) -> User:
        user = await run.user(run.target)
        if user is None:
            raise ActionFailed(f"account {run.target} does not exist", errcode=60111)
        return user

    def _extid(self, run: Run) -> str | None:
        employee = run.params.get("employee_id")
        if self.hr.employee_id_field == "extid" and isinstance(employee, str) and _EXTID.fullmatch(employee):
            return employee
        return None

    def _ours(self, run: Run, user: User) -> bool:
        """The existing account is this employee's: its extid is the employee id, or this very action sent
        the create in an earlier attempt (and no other employee id is on it)."""
        extid = self._extid(run)
        if extid is not None and user.extid:
            return user.extid == extid
        return bool(run.progress.get("create_sent"))

    async def _deliver(self, run: Run, password: Any) -> None:
        assert self.channel is not None
        credential = Credential(
            run.corp_id, run.target, run.params.get("employee_id"), run.entry.id, password
        )
        channel = self.channel
        run.progress["password_delivered"] = False
        receipt = await run.deliver(
            channel.name, {"userid": run.target}, functools.partial(channel.deliver, credential)
        )
        if receipt is not None:
            run.progress["password_delivered"] = True
            run.progress["delivery"] = {"channel": channel.name, "receipt": receipt}

    def _channel_name(self) -> str:
        return self.channel.name if self.channel is not None else "<none>"

    # ------------------------------------------------------------------ HR

    async def joiner(self, run: Run) -> Outcome:
        if self.channel is None and not run.dry_run:
            raise ActionFailed(
                "no secure channel for initial passwords is configured (actions.hr.delivery); "
                "the account was not created"
            )
        name = run.params.get("name")
        if not name:
            raise ActionFailed("the joiner has no name; user/create requires one")
        path = run.params.get("department_path") or self.hr.default_department_path
        existing = await run.user(run.target)
        if existing is not None:
            return await self._converge_joiner(run, existing, path)
        department = await self.departments.resolve(run, path, create=self.hr.create_departments)
        password = None if run.dry_run else generate_password(self.hr.password, run.target)
        fields: dict[str, Any] = {"userid": run.target, "name": name}
        fields["department"] = [department] if department is not None else [f"<new {path}>"]
        for key in ("position", "mobile"):
            if run.params.get(key):
                fields[key] = run.params[key]
        aliases = [a.lower() for a in run.params.get("aliases") or []]
        if aliases:
            fields["slaves"] = aliases
        extid = self._extid(run)
        if extid is not None:
            fields["extid"] = extid
        shown = {**fields, "password": "***", "cpwd_login": 1}
        run.progress["create_sent"] = True
        run.progress.setdefault("password_delivered", False)
        try:
            await run.write(
                "user/create",
                "POST",
                shown,
                "create the account",
                functools.partial(self._create, run, fields, password),
            )
        except ValidationError as exc:
            if exc.errcode != USERID_EXISTS:
                raise
            existing = await run.user(run.target)
            if existing is None or not self._ours(run, existing):
                raise
            return await self._converge_joiner(run, existing, path)
        if run.dry_run:
            await run.deliver(self._channel_name(), {"userid": run.target}, _never)
        else:
            await self._deliver(run, password)
        return Outcome(
            f"account created in {path or 'the root department'}; initial password delivered via "
            f"{self._channel_name()} (must be changed at first login)"
        )

    @staticmethod
    async def _create(run: Run, fields: dict[str, Any], password: Any) -> None:
        await run.client.user_create(UserCreate(**fields, password=password, cpwd_login=1))

    def _differences(self, run: Run, user: User, department: int | None) -> dict[str, Any]:
        """Requested joiner attributes the account does not have yet."""
        diff: dict[str, Any] = {}
        name = run.params.get("name")
        if name and user.name != name:
            diff["name"] = name
        if department is not None and department not in user.department:
            diff["department"] = [department]
        for key in ("position", "mobile"):
            value = run.params.get(key)
            if value and getattr(user, key) != value:
                diff[key] = value
        aliases = [a.lower() for a in run.params.get("aliases") or []]
        if aliases and not _same_set(user.slaves, aliases):
            diff["slaves"] = aliases
        return diff

    async def _converge_joiner(self, run: Run, user: User, path: str | None) -> Outcome:
        ours = self._ours(run, user)
        if not ours:
            department = await self.departments.lookup(run, path)
            diff = self._differences(run, user, department)
            if department is None:
                diff["department"] = path
            if not diff:
                return Outcome("the account already exists with the requested attributes")
            raise ActionFailed(
                f"userid {run.target} already exists and is not employee {run.params.get('employee_id')}'s "
                f"account (differs in {', '.join(sorted(diff))})",
                errcode=USERID_EXISTS,
            )
        department = await self.departments.resolve(run, path, create=self.hr.create_departments)
        diff = self._differences(run, user, department)
        if department is None and run.dry_run:
            diff["department"] = [f"<new {path}>"]
        rehire = user.enable == 0
        if rehire:
            diff["enable"] = 1
        reset = rehire or run.progress.get("password_delivered") is False
        if not diff and not reset:
            return Outcome("the account already exists with the requested attributes")
        password = None if run.dry_run or not reset else generate_password(self.hr.password, run.target)
        shown = dict(diff)
        if reset:
            shown |= {"password": "***", "cpwd_login": 1}
            run.progress["password_delivered"] = False
        await run.write(
            "user/update",
            "POST",
            {"userid": run.target, **shown},
            "bring the account in line",
            functools.partial(self._update, run, diff, password if reset else None),
        )
        if reset:
            if run.dry_run:
                await run.deliver(self._channel_name(), {"userid": run.target}, _never)
            else:
                await self._deliver(run, password)
        changed = ", ".join(sorted(shown)) or "nothing"
        return Outcome(
            f"existing account of this employee updated ({changed})"
            + ("; new initial password delivered" if reset else "")
        )

    async def _write_user(self, run: Run, fields: dict[str, Any], why: str) -> None:
        """A user/update of `fields` (no password) through the run, which records and persists it."""
        await run.write(
            "user/update", "POST", {"userid": run.target, **fields}, why,
            functools.partial(self._update, run, fields, None),
        )

    @staticmethod
    async def _update(run: Run, fields: dict[str, Any], password: Any) -> None:
        extra = {"password": password, "cpwd_login": 1} if password is not None else {}
        await run.client.user_update(UserUpdate(userid=run.target, **fields, **extra))

    async def mover(self, run: Run) -> Outcome:
        user = await self._existing(run)
        path = run.params.get("department_path")
        diff: dict[str, Any] = {}
        if path:
            department = await self.departments.resolve(run, path, create=self.hr.create_departments)
            if department is None:
                diff["department"] = [f"<new {path}>"]
            elif user.department != [department]:
                diff["department"] = [department]
        position = run.params.get("position")
        if position is not None and user.position != position:
            diff["position"] = position
        if not diff:
            return Outcome("the account is already in the requested department and position")
        for key in diff:
            run.before.setdefault(key, list(user.department) if key == "department" else user.position)
        await self._write_user(run, diff, "move the account")
        return Outcome(f"moved: {', '.join(sorted(diff))} changed")

    async def leaver(self, run: Run) -> Outcome:
        user = await run.user(run.target)
        if user is None:
            run.progress["absent"] = True
            return Outcome("the account does not exist; nothing to disable or delete")
        notes: list[str] = []
        if user.enable != 0:
            run.before.setdefault("enable", 1)
            await self._write_user(run, {"enable": 0}, "disable the account")
            notes.append("account disabled")
        else:
            notes.append("account already disabled")
        if self.hr.clean_groups:
            notes.extend(await self._clean_groups(run))
        return Outcome("; ".join(notes))

    async def leaver_delete(self, run: Run) -> Outcome:
        user = await run.user(run.target)
        if user is None:
            return Outcome("the account is already deleted")
        if user.enable != 0:
            raise ActionSkipped("the account was enabled again after the leaver; it is not deleted")
        notes = await self._clean_groups(run) if self.hr.clean_groups else []
        await run.write(
            "user/delete",
            "GET",
            {"userid": run.target},
            "delete the account after the grace period",
            functools.partial(run.client.user_delete, run.target),
        )
        return Outcome("; ".join(["account deleted", *notes]))

    async def _candidate_groups(self, run: Run) -> list[str]:
        groups = {g.lower() for g in self.hr.groups}
        if self.group_source is not None:
            groups |= {g.lower() for g in await self.group_source(run.corp_id)}
        return sorted(groups)

    async def _group(self, run: Run, groupid: str) -> Group | None:
        try:
            return await run.read(
                "group/get", "GET", {"groupid": groupid}, functools.partial(run.client.group_get, groupid)
            )
        except NotFound:
            return None

    async def _clean_groups(self, run: Run) -> list[str]:
        """Remove the target from every candidate group's members (and allowed senders)."""
        target, notes = run.target, []
        for groupid in await self._candidate_groups(run):
            group = await self._group(run, groupid)
            if group is None:
                continue
            update: dict[str, list[str]] = {}
            if any(u.lower() == target for u in group.userlist):
                rest = [u for u in group.userlist if u.lower() != target]
                if rest or group.grouplist or group.department:
                    update["userlist"] = rest
                else:
                    notes.append(f"left in {groupid}: it would have no member")
            if int(group.allow_type) == 3 and any(u.lower() == target for u in group.allow_userlist):
                rest = [u for u in group.allow_userlist if u.lower() != target]
                if rest:
                    update["allow_userlist"] = rest
                else:
                    notes.append(f"left as the only allowed sender of {groupid}")
            if not update:
                continue
            saved = run.before.setdefault("groups", {})
            saved.setdefault(groupid, {key: list(getattr(group, key)) for key in update})
            await run.write(
                "group/update",
                "POST",
                {"groupid": groupid, **update},
                f"remove from {groupid}",
                functools.partial(self._group_update, run, groupid, update),
            )
            notes.append(f"removed from {groupid}")
            if not run.dry_run and "userlist" in update:
                after = await self._group(run, groupid)
                if after is not None and any(u.lower() == target for u in after.userlist):
                    raise ActionFailed(
                        f"group/update left {target} in {groupid} (the server merges member "
                        "lists); remove it in the admin console"
                    )
        return notes

    @staticmethod
    async def _group_update(run: Run, groupid: str, update: dict[str, list[str]]) -> None:
        await run.client.group_update(GroupUpdate(groupid=groupid, **update))

    # ------------------------------------------------------------------ security

    async def disable_account(self, run: Run) -> Outcome:
        user = await self._existing(run)
        if user.enable == 0:
            return Outcome("the account is already disabled")
        run.before.setdefault("enable", 1)
        await self._write_user(run, {"enable": 0}, "disable the account")
        return Outcome("account disabled")

    async def _options(self, run: Run, types: Iterable[int]) -> dict[int, str]:
        wanted = [UserOptionType(t) for t in types]
        options = await run.read(
            "useroption/get",
            "POST",
            {"userid": run.target, "type": [int(t) for t in wanted]},
            functools.partial(run.client.useroption_get, run.target, wanted),
        )
        return {int(o.type): o.value for o in options}

    async def set_options(self, run: Run, desired: dict[int, str]) -> Outcome:
        try:
            current = await self._options(run, sorted(desired))
        except NotFound:
            raise ActionFailed(f"account {run.target} does not exist", errcode=60111) from None
        changes = {t: v for t, v in sorted(desired.items()) if current.get(t) != v}
        if not changes:
            return Outcome("the options already have the requested values")
        saved = run.before.setdefault("options", {})
        for t in changes:
            saved.setdefault(str(t), current.get(t))
        wire = [{"type": t, "value": v} for t, v in changes.items()]
        await run.write(
            "useroption/update",
            "POST",
            {"userid": run.target, "option": wire},
            "set options",
            functools.partial(self._set, run, changes),
        )
        return Outcome("options set: " + ", ".join(f"type {t} = {v}" for t, v in changes.items()))

    @staticmethod
    async def _set(run: Run, changes: dict[int, str]) -> None:
        await run.client.useroption_update(run.target, {UserOptionType(t): v for t, v in changes.items()})

    # ------------------------------------------------------------------ undo

    async def undo_disable(self, run: Run) -> Outcome:
        user = await self._existing(run)
        notes = []
        if run.before.get("enable") == 1 and user.enable == 0:
            await self._write_user(run, {"enable": 1}, "enable the account again")
            notes.append("account enabled")
        for groupid, saved in sorted(run.before.get("groups", {}).items()):
            group = await self._group(run, groupid)
            if group is None:
                notes.append(f"{groupid} no longer exists")
                continue
            update: dict[str, list[str]] = {}
            for key in ("userlist", "allow_userlist"):
                current = list(getattr(group, key))
                if (
                    key in saved
                    and any(u.lower() == run.target for u in saved[key])
                    and not any(u.lower() == run.target for u in current)
                ):
                    update[key] = [*current, run.target]
            if update:
                await run.write(
                    "group/update",
                    "POST",
                    {"groupid": groupid, **update},
                    f"add back to {groupid}",
                    functools.partial(self._group_update, run, groupid, update),
                )
                notes.append(f"added back to {groupid}")
        return Outcome("; ".join(notes) or "nothing to restore")

    async def undo_mover(self, run: Run) -> Outcome:
        user = await self._existing(run)
        diff: dict[str, Any] = {}
        if "department" in run.before and user.department != run.before["department"]:
            diff["department"] = run.before["department"]
        if "position" in run.before and user.position != run.before["position"]:
            diff["position"] = run.before["position"]
        if not diff:
            return Outcome("department and position are already as before")
        await self._write_user(run, diff, "move the account back")
        return Outcome(f"restored {', '.join(sorted(diff))}")

    async def undo_options(self, run: Run) -> Outcome:
        saved = {int(t): v for t, v in run.before.get("options", {}).items() if v is not None}
        if not saved:
            return Outcome("nothing to restore")
        try:
            current = await self._options(run, sorted(saved))
        except NotFound:
            raise ActionFailed(f"account {run.target} does not exist", errcode=60111) from None
        changes = {t: v for t, v in sorted(saved.items()) if current.get(t) != v}
        if not changes:
            return Outcome("the options already have their previous values")
        wire = [{"type": t, "value": v} for t, v in changes.items()]
        await run.write(
            "useroption/update",
            "POST",
            {"userid": run.target, "option": wire},
            "restore options",
            functools.partial(self._set, run, changes),
        )
        return Outcome("restored " + ", ".join(f"type {t} = {v}" for t, v in changes.items()))


async def _never() -> str:
    raise AssertionError("a dry run never delivers")
