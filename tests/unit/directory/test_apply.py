"""Applying a plan against a fake Exmail: a kill right after a call reached Exmail, then a rerun from the
journal on disk, makes no call twice and records every op once (a re-sent record keeps its id); a refused call
becomes a rejected row with the errcode explained; a dependent op is rejected with the reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pipeline.actions import MemoryActionOutput
from pipeline.directory._journal import Journal
from pipeline.directory._live import LiveDirectory
from pipeline.directory.apply import apply_plan
from pipeline.directory.model import DirectoryFile, build_row
from pipeline.directory.plan import make_plan
from pipeline.exmail import ValidationError

D = "corp.example.com"


class Killed(BaseException):
    """Stands in for SIGKILL: nothing catches it."""


class FakeExmail:
    def __init__(self) -> None:
        self.departments: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "公司", "parentid": 0, "order": 0},
                                                       11: {"id": 11, "name": "销售部", "parentid": 1, "order": 0}}
        self.users: dict[str, dict[str, Any]] = {
            f"b@{D}": {"userid": f"b@{D}", "name": "B", "department": [11], "enable": 1, "mobile": "139"}}
        self.writes: list[str] = []
        self.kill_after: int | None = None
        self.refuse: dict[str, ValidationError] = {}
        self.next_id = 100

    def _wrote(self, what: str) -> None:
        self.writes.append(what)
        if self.kill_after is not None and len(self.writes) == self.kill_after:
            raise Killed

    def live(self) -> LiveDirectory:
        return LiveDirectory(copy.deepcopy(self.departments), copy.deepcopy(self.users), {})

    async def department_create(self, req: Any) -> int:
        self.next_id += 1
        self.departments[self.next_id] = {"id": self.next_id, "name": req.name, "parentid": req.parentid, "order": 0}
        self._wrote(f"department/create {req.name}")
        return self.next_id

    async def user_create(self, req: Any) -> None:
        if req.userid in self.refuse:
            raise self.refuse[req.userid]
        body = req.wire()
        self.users[req.userid] = {**body, "enable": 1}
        self._wrote(f"user/create {req.userid}")

    async def user_update(self, req: Any) -> None:
        self.users[req.userid].update(req.wire())
        self._wrote(f"user/update {req.userid}")


def _plan(fake: FakeExmail, extra: list[dict[str, Any]] | None = None) -> Any:
    data = DirectoryFile()
    rows = [{"userid": f"n{i}@{D}", "name": f"N{i}", "department": "新部门", "mobile": "13900000000"} for i in range(3)]
    rows.append({"userid": f"b@{D}", "enable": "0"})
    for i, values in enumerate([*rows, *(extra or [])], start=2):
        data.add(build_row("user", values, f"line {i}", i))
    return make_plan(data, fake.live(), corp_id="wm1", source="f.csv", input_sha256="abc")


async def test_kill_after_a_call_then_resume_repeats_nothing(tmp_path: Path) -> None:
    fake, output = FakeExmail(), MemoryActionOutput()
    plan = _plan(fake)
    assert [o.action for o in plan.ops] == ["create", "create", "create", "create", "disable"]
    journal = Journal(tmp_path / "f.csv.journal")
    journal.start(plan)
    fake.kill_after = 3  # department + n0 recorded, then n1 reaches Exmail and the process dies
    with pytest.raises(Killed):
        await apply_plan(plan, fake, fake.live(), journal, output, passwords={}, requested_by="cli:t")  # type: ignore[arg-type]
    assert len(output.records) == 2
    fake.kill_after = None
    resumed = Journal.load(journal.path)
    assert resumed.plan is not None and resumed.plan.id == plan.id and resumed.done_count() == 2
    report = await apply_plan(resumed.plan, fake, fake.live(), resumed, output, passwords={},  # type: ignore[arg-type]
                              requested_by="cli:t")
    assert fake.writes == ["department/create 新部门", f"user/create n0@{D}", f"user/create n1@{D}",
                           f"user/create n2@{D}", f"user/update b@{D}"]
    assert (report.changed, report.skipped, report.rejected) == (3, 2, [])
    assert len({r.data["action_id"] for r in output.records}) == 5 and len(output.records) == 5
    confirmed = [r for r in output.records if r.data["target"]["userid"] == f"n1@{D}"]
    assert confirmed[0].data["result"] == "changed" and "confirmed on resume" in confirmed[0].data["detail"]
    assert resumed.finished and fake.users[f"b@{D}"]["enable"] == 0


async def test_refused_row_is_rejected_with_the_errcode_explained(tmp_path: Path) -> None:
    fake, output = FakeExmail(), MemoryActionOutput()
    fake.refuse[f"n1@{D}"] = ValidationError(60103, "invalid mobile", "user/create")
    plan = _plan(fake)
    journal = Journal(tmp_path / "j")
    journal.start(plan)
    report = await apply_plan(plan, fake, fake.live(), journal, output, passwords={},  # type: ignore[arg-type]
                              requested_by="cli:t")
    assert [(r.line, r.key, r.errcode, r.meaning) for r in report.rejected] == \
        [(3, f"n1@{D}", 60103, "invalid mobile number")]
    assert "check the parameter" in str(report.rejected[0].hint)
    failed = [r for r in output.records if r.data["status"] == "failed"]
    assert len(failed) == 1 and failed[0].data["errcode"] == 60103
    assert journal.state(plan.ops[2].id) == "rejected"
