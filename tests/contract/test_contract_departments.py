"""department/create, update, delete, list, search through the client against the simulator: typed results,
the simulator's directory state, operation-log entries for writes, int64 ids, and every validation errcode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pipeline.exmail import (
    ExmailClient,
    ExmailError,
    NotFound,
    OperationCategory,
    OperationType,
    ValidationError,
)
from pipeline.exmail.models import Department, DepartmentCreate, DepartmentMatch, DepartmentUpdate, UserCreate
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
TODAY = "2026-01-05"
ROOT = 1
MISSING_ID = 1234567890123456789
PASSWORD = "Passw0rd1"


async def departments(sim: SimulatorHandle) -> dict[int, dict[str, Any]]:
    return {d["id"]: d for d in (await sim.admin.directory())["departments"]}


async def dept_id(sim: SimulatorHandle, name: str) -> int:
    return next(i for i, d in (await departments(sim)).items() if d["name"] == name)


async def ops(client: ExmailClient) -> set[tuple[int, str]]:
    records = await client.log_operation(TODAY, TODAY, category=OperationCategory.MEMBERS_AND_GROUPS)
    return {(int(r.type), r.operand) for r in records}


async def create(client: ExmailClient, name: str, parentid: int = ROOT, order: int | None = None) -> int:
    return await client.department_create(DepartmentCreate(name=name, parentid=parentid, order=order))


# --- happy paths


async def test_department_create_int64_id_in_state_and_oplog(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    new_id = await create(client, "安全组", order=20000)
    assert isinstance(new_id, int) and 10**18 <= new_id < 2**63
    state = (await departments(sim))[new_id]
    assert state == {"id": new_id, "name": "安全组", "parentid": ROOT, "order": 20000}
    assert (OperationType.ADD_DEPARTMENT, "安全组") in await ops(client)


async def test_department_create_reserved_order_forced_to_zero(client: ExmailClient) -> None:
    new_id = await create(client, "ordered", order=50)
    listed = await client.department_list(new_id)
    assert [(d.id, d.order) for d in listed] == [(new_id, 0)]


async def test_department_list_whole_tree_matches_state_int64(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    listed = await client.department_list()
    state = await departments(sim)
    assert all(isinstance(d, Department) for d in listed)
    assert {d.id: (d.name, d.parentid, d.order) for d in listed} == {
        i: (d["name"], d["parentid"], d["order"]) for i, d in state.items()
    }
    assert sum(1 for d in listed if d.id >= 10**18) == len(state) - 1
    assert [d.order for d in listed] == sorted(d.order for d in listed)
    root = next(d for d in listed if d.id == ROOT)
    assert root.parentid == 0


async def test_department_list_subtree_includes_self(client: ExmailClient, sim: SimulatorHandle) -> None:
    top = await dept_id(sim, "研发中心")
    listed = await client.department_list(top)
    state = await departments(sim)
    assert {d.id for d in listed} == {top} | {i for i, d in state.items() if d["parentid"] == top}


async def test_department_list_subtree_without_self_choice(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    await sim.admin.set_choices(department_list_includes_self=False)
    top = await dept_id(sim, "研发中心")
    listed = await client.department_list(top)
    assert listed and top not in {d.id for d in listed}


async def test_department_update_rename_move_state_and_oplog(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    a = await create(client, "A部")
    b = await create(client, "B部")
    await client.department_update(DepartmentUpdate(id=a, parentid=b, name="A部2"))
    assert (await departments(sim))[a]["parentid"] == b
    [moved] = [d for d in await client.department_list(b) if d.id == a]
    assert (moved.name, moved.parentid) == ("A部2", b)
    assert {(OperationType.MOVE_DEPARTMENT, "A部2"), (OperationType.EDIT_DEPARTMENT, "A部2")} <= await ops(
        client
    )


async def test_department_update_omitted_fields_kept(client: ExmailClient, sim: SimulatorHandle) -> None:
    a = await create(client, "keep", order=30000)
    await client.department_update(DepartmentUpdate(id=a, name="kept"))
    assert (await departments(sim))[a] == {"id": a, "name": "kept", "parentid": ROOT, "order": 30000}


async def test_department_delete_state_and_oplog(client: ExmailClient, sim: SimulatorHandle) -> None:
    a = await create(client, "临时")
    await client.department_delete(a)
    assert a not in await departments(sim)
    assert (OperationType.DELETE_DEPARTMENT, "临时") in await ops(client)
    with pytest.raises(NotFound) as caught:
        await client.department_list(a)
    assert caught.value.errcode == 60003


async def test_department_search_exact_and_fuzzy_with_path(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    exact = await client.department_search("后端组")
    assert len(exact) == 1 and isinstance(exact[0], DepartmentMatch)
    assert exact[0].path == "研发中心/后端组"
    assert exact[0].parentid == await dept_id(sim, "研发中心")
    assert exact[0].id == await dept_id(sim, "后端组")
    fuzzy = await client.department_search("销售", fuzzy=True)
    assert {d.name for d in fuzzy} == {"销售部", "华北销售", "华东销售", "华南销售", "海外销售"}
    assert await client.department_search("销售") == []


async def test_department_int64_ids_round_trip_through_users_groups_tags(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    """A 19-digit id read from one endpoint is accepted by every other endpoint and comes back unchanged."""
    big = max(await departments(sim))
    assert big > 2**53  # beyond a float's exact range
    child = await create(client, "大号子部门", parentid=big)
    userid = f"int64.user@{DOMAIN}"
    await client.user_create(
        UserCreate(userid=userid, name="Int64", department=[big, child], password=PASSWORD)
    )
    assert (await client.user_get(userid)).department == [big, child]
    assert [u.userid for u in await client.user_simplelist(child)] == [userid]
    tagid = await client.tag_create("int64")
    await client.tag_add_users(tagid, partylist=[big])
    assert (await client.tag_get(tagid)).partylist == [big]
    assert [d.id for d in await client.department_search("大号子部门")] == [child]
    assert (await departments(sim))[child]["parentid"] == big


# --- errors


def _name_bytes(n: int) -> str:
    return "部" * (n // 3)


ErrorCase = Callable[[ExmailClient, SimulatorHandle], Awaitable[Any]]


async def _duplicate_sibling(c: ExmailClient, s: SimulatorHandle) -> Any:
    return await create(c, "研发中心")


async def _deep_tree(c: ExmailClient, s: SimulatorHandle) -> Any:
    parent = ROOT
    for level in range(1, 16):
        parent = await create(c, f"L{level}", parentid=parent)
    return await create(c, "L16", parentid=parent)


async def _cycle(c: ExmailClient, s: SimulatorHandle) -> Any:
    top, child = await dept_id(s, "研发中心"), await dept_id(s, "后端组")
    return await c.department_update(DepartmentUpdate(id=top, parentid=child))


async def _delete_with_children(c: ExmailClient, s: SimulatorHandle) -> Any:
    return await c.department_delete(await dept_id(s, "研发中心"))


async def _delete_with_members(c: ExmailClient, s: SimulatorHandle) -> Any:
    a = await create(c, "有人")
    await c.user_create(UserCreate(userid=f"member@{DOMAIN}", name="M", department=[a], password=PASSWORD))
    return await c.department_delete(a)


async def _move_root(c: ExmailClient, s: SimulatorHandle) -> Any:
    return await c.department_update(DepartmentUpdate(id=ROOT, parentid=await dept_id(s, "财务部")))


CASES: list[tuple[str, int, type[ExmailError], ErrorCase]] = [
    ("create-name-over-64-bytes", 60001, ValidationError, lambda c, s: create(c, _name_bytes(66))),
    ("create-name-illegal-chars", 60009, ValidationError, lambda c, s: create(c, "R&D:ops")),
    ("create-name-fullwidth-bar", 60009, ValidationError, lambda c, s: create(c, "a｜b")),
    ("create-duplicate-sibling", 60008, ValidationError, _duplicate_sibling),
    ("create-parent-missing", 60004, NotFound, lambda c, s: create(c, "orphan", parentid=MISSING_ID)),
    ("create-tree-too-deep", 60002, ValidationError, _deep_tree),
    (
        "update-unknown",
        60003,
        NotFound,
        lambda c, s: c.department_update(DepartmentUpdate(id=MISSING_ID, name="x")),
    ),
    ("update-cycle", 60010, ValidationError, _cycle),
    ("update-move-root", 60124, ValidationError, _move_root),
    ("delete-unknown", 60003, NotFound, lambda c, s: c.department_delete(MISSING_ID)),
    ("delete-root", 60007, ValidationError, lambda c, s: c.department_delete(ROOT)),
    ("delete-has-children", 60006, ValidationError, _delete_with_children),
    ("delete-has-members", 60005, ValidationError, _delete_with_members),
    ("list-unknown", 60003, NotFound, lambda c, s: c.department_list(MISSING_ID)),
    ("search-name-over-64-bytes", 60001, ValidationError, lambda c, s: c.department_search(_name_bytes(66))),
]


@pytest.mark.parametrize(
    ("errcode", "cls", "case"), [c[1:] for c in CASES], ids=[f"{c[1]}-{c[0]}" for c in CASES]
)
async def test_department_refused(
    client: ExmailClient, sim: SimulatorHandle, errcode: int, cls: type[ExmailError], case: ErrorCase
) -> None:
    before = await departments(sim)
    with pytest.raises(cls) as caught:
        await case(client, sim)
    assert caught.value.errcode == errcode
    after = await departments(sim)
    assert {i: after[i] for i in before if i in after} == before  # a refused write changed nothing


def test_department_empty_name_refused_by_client_before_sending() -> None:
    with pytest.raises(ValueError):
        DepartmentCreate(name="", parentid=ROOT)
