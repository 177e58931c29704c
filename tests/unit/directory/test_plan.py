"""The import plan against an in-memory live directory: creates (with missing parents), updates with the
changed fields, moves, disables, renames by department id, deletes only when asked, nothing for equal data."""

from __future__ import annotations

from typing import Any

from pipeline.directory._live import LiveDirectory
from pipeline.directory.model import DirectoryFile, build_row
from pipeline.directory.plan import make_plan

D = "corp.example.com"


def live() -> LiveDirectory:
    departments = {1: {"id": 1, "name": "示例公司", "parentid": 0, "order": 0},
                   11: {"id": 11, "name": "研发中心", "parentid": 1, "order": 0},
                   12: {"id": 12, "name": "后端组", "parentid": 11, "order": 0},
                   13: {"id": 13, "name": "销售部", "parentid": 1, "order": 0}}
    user = {"position": "", "mobile": "13800000000", "tel": "", "extid": "", "gender": "1", "enable": "1",
            "slaves": [], "cpwd_login": 0}
    users = {f"a@{D}": {"userid": f"a@{D}", "name": "A", "department": [12], **user},
             f"b@{D}": {"userid": f"b@{D}", "name": "B", "department": [13], **user},
             f"c@{D}": {"userid": f"c@{D}", "name": "C", "department": [1], **user}}
    return LiveDirectory(departments, users, {})


def file(*rows: tuple[str, dict[str, Any]]) -> DirectoryFile:
    data = DirectoryFile()
    for i, (kind, values) in enumerate(rows, start=2):
        data.add(build_row(kind, values, f"line {i}", i))
    return data


def user(userid: str, dept: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    return ("user", {"userid": userid, "name": userid[0].upper(), "department": dept, "mobile": "13800000000",
                     "gender": "male", "enable": "1", **extra})


def plan_of(data: DirectoryFile, **kw: Any) -> list[tuple[str, str, str, dict[str, Any]]]:
    plan = make_plan(data, live(), corp_id="wm1", source="f.csv", input_sha256="x", **kw)
    return [(o.action, o.object, o.key, o.changes) for o in plan.ops]


def test_equal_file_plans_nothing_even_with_company_prefix() -> None:
    data = file(user(f"a@{D}", "示例公司/研发中心/后端组"), user(f"b@{D}", "销售部"), user(f"c@{D}", "示例公司"))
    assert plan_of(data) == []


def test_create_move_disable_update() -> None:
    data = file(user(f"a@{D}", "销售部"), user(f"b@{D}", "销售部", enable="disabled"),
                user(f"c@{D}", "示例公司", position="经理"), user(f"n@{D}", "新部门/华东"))
    assert plan_of(data) == [
        ("create", "department", "新部门", {"path": [None, "新部门"]}),
        ("create", "department", "新部门/华东", {"path": [None, "新部门/华东"]}),
        ("create", "user", f"n@{D}", {"name": [None, "N"], "department": [None, ["新部门/华东"]],
                                      "mobile": [None, "13800000000"], "gender": [None, 1]}),
        ("move", "user", f"a@{D}", {"department": [["研发中心/后端组"], ["销售部"]]}),
        ("disable", "user", f"b@{D}", {"enable": [1, 0]}),
        ("update", "user", f"c@{D}", {"position": ["", "经理"]}),
    ]


def test_deletes_only_with_the_flag_and_only_for_kinds_in_the_file() -> None:
    data = file(user(f"a@{D}", "研发中心/后端组"))
    plan = make_plan(data, live(), corp_id="wm1", source="f", input_sha256="x")
    assert plan.ops == [] and plan.kept == {"user": 2}
    deleting = plan_of(data, delete=True)
    assert deleting == [("delete", "user", f"b@{D}", {}), ("delete", "user", f"c@{D}", {})]


def test_department_rename_and_move_by_id() -> None:
    data = file(("department", {"path": "销售部/后端组", "id": "12"}), user(f"a@{D}", "销售部/后端组"))
    assert plan_of(data) == [("move", "department", "销售部/后端组", {"path": ["研发中心/后端组", "销售部/后端组"]})]
    renamed = file(("department", {"path": "研发中心/服务端组", "id": "12"}))
    assert plan_of(renamed) == [("update", "department", "研发中心/服务端组",
                                 {"path": ["研发中心/后端组", "研发中心/服务端组"]})]


def test_new_user_without_department_is_rejected() -> None:
    data = file(("user", {"userid": f"z@{D}", "name": "Z"}))
    plan = make_plan(data, live(), corp_id="wm1", source="f", input_sha256="x")
    assert plan.ops == [] and [(r.line, r.reason) for r in plan.rejected] == [(2, "a new account needs department")]
