"""group/create, update, delete, get through the client against the simulator: typed results vs the
simulator's directory, operation-log entries for writes, list replace/merge, and every validation errcode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from pipeline.exmail import (
    AllowType,
    ExmailClient,
    ExmailError,
    NotFound,
    OperationCategory,
    OperationType,
    ValidationError,
)
from pipeline.exmail.models import DepartmentCreate, Group, GroupCreate, GroupUpdate, GroupWriteResult
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
OPS = f"it.ops@{DOMAIN}"
GHOST = f"ghost@{DOMAIN}"
TODAY = "2026-01-05"


async def state_groups(sim: SimulatorHandle) -> dict[str, dict[str, Any]]:
    return {g["groupid"]: g for g in (await sim.admin.directory())["groups"]}


async def op_types(client: ExmailClient, operand: str) -> list[int]:
    records = await client.log_operation(TODAY, TODAY, category=OperationCategory.MEMBERS_AND_GROUPS)
    return [int(r.type) for r in records if r.operand == operand]


def nothing_ignored(result: GroupWriteResult) -> bool:
    return not (
        result.invalid_userlist
        or result.invalid_grouplist
        or result.invalid_departlist
        or result.invalid_taglist
    )


def group(groupid: str, **fields: Any) -> GroupCreate:
    values: dict[str, Any] = {
        "groupid": groupid,
        "groupname": "Team",
        "allow_type": AllowType.ENTERPRISE_MEMBERS,
    }
    if not {"userlist", "grouplist", "department"} & set(fields):
        values["userlist"] = [ADMIN]
    return GroupCreate(**{**values, **fields})


# --- happy paths


async def test_group_create_then_get_matches_state(client: ExmailClient, sim: SimulatorHandle) -> None:
    dept = await client.department_create(DepartmentCreate(name="群组部门", parentid=1))
    gid = f"team@{DOMAIN}"
    result = await client.group_create(
        group(
            gid,
            userlist=[ADMIN],
            grouplist=[f"rd@{DOMAIN}"],
            department=[dept],
            allow_type=AllowType.SPECIFIED_MEMBERS,
            allow_userlist=[OPS],
        )
    )
    assert nothing_ignored(result)
    got = await client.group_get(gid)
    assert isinstance(got, Group)
    assert (got.groupid, got.groupname, got.userlist, got.grouplist, got.department) == (
        gid,
        "Team",
        [ADMIN],
        [f"rd@{DOMAIN}"],
        [dept],
    )
    assert (got.allow_type, got.allow_userlist) == (AllowType.SPECIFIED_MEMBERS, [OPS])
    assert (await state_groups(sim))[gid]["department"] == [dept]
    assert await op_types(client, gid) == [OperationType.ADD_MAIL_GROUP]


async def test_group_get_seeded_nested_group(client: ExmailClient, sim: SimulatorHandle) -> None:
    got = await client.group_get(f"leaders@{DOMAIN}")
    state = (await state_groups(sim))[f"leaders@{DOMAIN}"]
    assert got.grouplist == state["grouplist"] == [f"managers@{DOMAIN}"]
    assert (int(got.allow_type), got.allow_userlist) == (state["allow_type"], state["allow_userlist"])


async def test_group_update_replaces_lists_state_and_oplog(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    gid = f"upd@{DOMAIN}"
    await client.group_create(group(gid, allow_type=AllowType.SPECIFIED_MEMBERS, allow_userlist=[ADMIN]))
    result = await client.group_update(GroupUpdate(groupid=gid, userlist=[OPS], allow_type=AllowType.ANYONE))
    assert nothing_ignored(result)
    got = await client.group_get(gid)
    assert (got.userlist, got.allow_type, got.allow_userlist, got.groupname) == (
        [OPS],
        AllowType.ANYONE,
        [],
        "Team",
    )
    assert (await state_groups(sim))[gid]["userlist"] == [OPS]
    assert await op_types(client, gid) == [OperationType.ADD_MAIL_GROUP, OperationType.EDIT_MAIL_GROUP]


async def test_group_update_merge_choice(client: ExmailClient, sim: SimulatorHandle) -> None:
    gid = f"merge@{DOMAIN}"
    await client.group_create(group(gid))
    await sim.admin.set_choices(group_update_lists="merge")
    await client.group_update(GroupUpdate(groupid=gid, userlist=[OPS]))
    assert (await client.group_get(gid)).userlist == [ADMIN, OPS]


async def test_group_delete_state_and_oplog(client: ExmailClient, sim: SimulatorHandle) -> None:
    gid = f"gone@{DOMAIN}"
    await client.group_create(group(gid))
    await client.group_delete(gid)
    assert gid not in await state_groups(sim)
    assert await op_types(client, gid) == [OperationType.ADD_MAIL_GROUP, OperationType.DELETE_MAIL_GROUP]
    with pytest.raises(NotFound) as caught:
        await client.group_get(gid)
    assert caught.value.errcode == 600008


# --- errors


ErrorCase = Callable[[ExmailClient], Awaitable[Any]]


async def _cycle(c: ExmailClient) -> Any:
    await c.group_create(group(f"ga@{DOMAIN}"))
    await c.group_create(group(f"gb@{DOMAIN}", grouplist=[f"ga@{DOMAIN}"]))
    return await c.group_update(GroupUpdate(groupid=f"ga@{DOMAIN}", grouplist=[f"gb@{DOMAIN}"]))


async def _too_deep(c: ExmailClient) -> Any:
    await c.group_create(group(f"n1@{DOMAIN}"))
    for level in range(2, 6):
        await c.group_create(group(f"n{level}@{DOMAIN}", grouplist=[f"n{level - 1}@{DOMAIN}"]))
    return await c.group_create(group(f"n6@{DOMAIN}", grouplist=[f"n5@{DOMAIN}"]))


async def _emptied(c: ExmailClient) -> Any:
    await c.group_create(group(f"empty@{DOMAIN}"))
    return await c.group_update(
        GroupUpdate(groupid=f"empty@{DOMAIN}", userlist=[], grouplist=[], department=[])
    )


CASES: list[tuple[str, int, type[ExmailError], ErrorCase]] = [
    ("create-groupid-invalid", 600007, ValidationError, lambda c: c.group_create(group("nope"))),
    (
        "create-groupid-foreign-domain",
        600007,
        ValidationError,
        lambda c: c.group_create(group("g@other.org")),
    ),
    ("create-exists", 600015, ValidationError, lambda c: c.group_create(group(f"all@{DOMAIN}"))),
    ("create-groupid-is-user", 600024, ValidationError, lambda c: c.group_create(group(ADMIN))),
    (
        "create-unknown-user",
        600016,
        ValidationError,
        lambda c: c.group_create(group(f"g@{DOMAIN}", userlist=[GHOST])),
    ),
    (
        "create-unknown-group",
        600018,
        ValidationError,
        lambda c: c.group_create(group(f"g@{DOMAIN}", grouplist=[GHOST])),
    ),
    (
        "create-unknown-department",
        600017,
        ValidationError,
        lambda c: c.group_create(group(f"g@{DOMAIN}", department=[99])),
    ),
    (
        "create-allow-type-3-without-list",
        600023,
        ValidationError,
        lambda c: c.group_create(group(f"g@{DOMAIN}", allow_type=AllowType.SPECIFIED_MEMBERS)),
    ),
    (
        "create-allow-userlist-unknown",
        600014,
        ValidationError,
        lambda c: c.group_create(
            group(f"g@{DOMAIN}", allow_type=AllowType.SPECIFIED_MEMBERS, allow_userlist=[GHOST])
        ),
    ),
    (
        "create-name-illegal-chars",
        600019,
        ValidationError,
        lambda c: c.group_create(group(f"g@{DOMAIN}", groupname="a|b")),
    ),
    ("create-nesting-over-5", 600021, ValidationError, _too_deep),
    ("update-cycle", 600020, ValidationError, _cycle),
    ("update-members-emptied", 600009, ValidationError, _emptied),
    ("update-unknown", 600008, NotFound, lambda c: c.group_update(GroupUpdate(groupid=GHOST, groupname="x"))),
    ("delete-unknown", 600008, NotFound, lambda c: c.group_delete(GHOST)),
    ("get-unknown", 600008, NotFound, lambda c: c.group_get(GHOST)),
]


@pytest.mark.parametrize(
    ("errcode", "cls", "case"), [c[1:] for c in CASES], ids=[f"{c[1]}-{c[0]}" for c in CASES]
)
async def test_group_refused(
    client: ExmailClient, sim: SimulatorHandle, errcode: int, cls: type[ExmailError], case: ErrorCase
) -> None:
    before = await state_groups(sim)
    with pytest.raises(cls) as caught:
        await case(client)
    assert caught.value.errcode == errcode
    after = await state_groups(sim)
    assert {g: after.get(g) for g in before} == before


@pytest.mark.parametrize(
    ("body", "server_errcode"),
    [
        ({"groupid": f"g@{DOMAIN}", "groupname": "G", "allow_type": 0}, 600009),
        ({"groupid": f"g@{DOMAIN}", "groupname": "G", "userlist": [ADMIN], "allow_type": 4}, 600013),
    ],
    ids=["no-members-600009", "allow-type-out-of-range-600013"],
)
async def test_group_create_refused_by_client_and_server_alike(
    client: ExmailClient, body: dict[str, Any], server_errcode: int
) -> None:
    with pytest.raises(ValueError):
        GroupCreate(**body)
    with pytest.raises(ValidationError) as caught:
        await client._call("group/create", body=body)
    assert caught.value.errcode == server_errcode
