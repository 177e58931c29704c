"""user/create, update, delete, get, simplelist, list, batchcheck through the client against the simulator:
typed results vs the simulator's directory, operation-log entries for writes, and every validation errcode.
Rules the client enforces itself (>20 departments, >5 aliases, gender values, >20 accounts per batchcheck)
are checked to agree with the simulator's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline.exmail import (
    AccountType,
    ExmailClient,
    ExmailError,
    Gender,
    NotFound,
    OperationCategory,
    OperationType,
    ValidationError,
)
from pipeline.exmail.models import DepartmentCreate, User, UserBrief, UserCreate, UserUpdate
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
TODAY = "2026-01-05"
PASSWORD = "Passw0rd1"
GHOST = f"ghost@{DOMAIN}"


async def state_users(sim: SimulatorHandle) -> dict[str, dict[str, Any]]:
    return {u["userid"]: u for u in (await sim.admin.directory())["users"]}


async def op_types(client: ExmailClient, operand: str) -> list[int]:
    records = await client.log_operation(TODAY, TODAY, category=OperationCategory.MEMBERS_AND_GROUPS)
    return [int(r.type) for r in records if r.operand == operand]


async def new_dept(client: ExmailClient, name: str, parentid: int = 1) -> int:
    return await client.department_create(DepartmentCreate(name=name, parentid=parentid))


def new_user(userid: str, department: list[int], **fields: Any) -> UserCreate:
    return UserCreate(
        userid=userid,
        name=fields.pop("name", "新用户"),
        department=department,
        password=fields.pop("password", PASSWORD),
        **fields,
    )


# --- happy paths


async def test_user_create_then_get_matches_state(client: ExmailClient, sim: SimulatorHandle) -> None:
    dept = await new_dept(client, "成员测试")
    userid = f"new.user@{DOMAIN}"
    await client.user_create(
        new_user(
            userid,
            [dept],
            position="工程师",
            mobile="13800000000",
            tel="010-12345678",
            extid="E90001",
            gender=Gender.FEMALE,
            slaves=[f"nu@{DOMAIN}"],
            cpwd_login=1,
        )
    )
    user = await client.user_get(userid)
    assert isinstance(user, User)
    assert (user.userid, user.name, user.department, user.position) == (userid, "新用户", [dept], "工程师")
    assert (user.mobile, user.tel, user.extid) == ("13800000000", "010-12345678", "E90001")
    assert (user.gender, user.enable, user.slaves, user.cpwd_login) == (Gender.FEMALE, 1, [f"nu@{DOMAIN}"], 1)
    assert "password" not in user.raw
    state = (await state_users(sim))[userid]
    assert {k: state[k] for k in ("name", "department", "gender", "enable", "slaves")} == {
        "name": "新用户",
        "department": [dept],
        "gender": 2,
        "enable": 1,
        "slaves": [f"nu@{DOMAIN}"],
    }
    assert await op_types(client, userid) == [OperationType.ADD_USER]


async def test_user_create_with_mobile_only(client: ExmailClient, sim: SimulatorHandle) -> None:
    userid = f"mobile.only@{DOMAIN}"
    await client.user_create(UserCreate(userid=userid, name="M", department=[1], mobile="13900000000"))
    assert userid in await state_users(sim)


async def test_user_get_gender_and_enable_as_numbers(client: ExmailClient, sim: SimulatorHandle) -> None:
    """The simulator's alternative wire types (gender as number, enable as string) parse the same."""
    before = await client.user_get(ADMIN)
    await sim.admin.set_choices(gender_type="int", user_get_enable_type="str")
    after = await client.user_get(ADMIN)
    assert (after.gender, after.enable) == (before.gender, before.enable)
    assert isinstance(after.raw["gender"], int) and isinstance(after.raw["enable"], str)


async def test_user_update_state_and_oplog(client: ExmailClient, sim: SimulatorHandle) -> None:
    userid = f"upd@{DOMAIN}"
    await client.user_create(new_user(userid, [1]))
    await client.user_update(UserUpdate(userid=userid, name="改名", enable=0, slaves=[f"upd.alias@{DOMAIN}"]))
    user = await client.user_get(userid)
    assert (user.name, user.enable, user.slaves) == ("改名", 0, [f"upd.alias@{DOMAIN}"])
    assert (await state_users(sim))[userid]["enable"] == 0
    assert await op_types(client, userid) == [
        OperationType.ADD_USER,
        OperationType.DISABLE_USER,
        OperationType.EDIT_ALIAS,
        OperationType.EDIT_USER,
    ]
    await client.user_update(UserUpdate(userid=userid, enable=1))
    assert (await client.user_get(userid)).enable == 1
    assert (await op_types(client, userid))[-1] == OperationType.ENABLE_USER


async def test_user_update_omitted_fields_kept(client: ExmailClient) -> None:
    userid = f"keep@{DOMAIN}"
    await client.user_create(new_user(userid, [1], position="会计", mobile="13700000000"))
    await client.user_update(UserUpdate(userid=userid, name="Kept"))
    user = await client.user_get(userid)
    assert (user.name, user.position, user.mobile) == ("Kept", "会计", "13700000000")


async def test_user_delete_state_and_oplog(client: ExmailClient, sim: SimulatorHandle) -> None:
    userid = f"gone@{DOMAIN}"
    await client.user_create(new_user(userid, [1], slaves=[f"gone.alias@{DOMAIN}"]))
    await client.user_delete(userid)
    assert userid not in await state_users(sim)
    assert await op_types(client, userid) == [OperationType.ADD_USER, OperationType.DELETE_USER]
    with pytest.raises(NotFound) as caught:
        await client.user_get(userid)
    assert caught.value.errcode == 60111 and caught.value.errmsg == "userid not found"
    [check] = await client.user_batchcheck([f"gone.alias@{DOMAIN}"])
    assert check.type is AccountType.AVAILABLE


async def test_user_simplelist_direct_and_fetch_child(client: ExmailClient) -> None:
    parent = await new_dept(client, "列表父")
    child = await new_dept(client, "列表子", parent)
    await client.user_create(new_user(f"l0@{DOMAIN}", [parent], name="L0"))
    await client.user_create(new_user(f"l1@{DOMAIN}", [child], name="L1"))
    direct = await client.user_simplelist(parent)
    assert direct == [UserBrief(userid=f"l0@{DOMAIN}", name="L0", department=[parent])]
    deep = await client.user_simplelist(parent, fetch_child=True)
    assert {(u.userid, tuple(u.department)) for u in deep} == {
        (f"l0@{DOMAIN}", (parent,)),
        (f"l1@{DOMAIN}", (child,)),
    }


async def test_user_list_whole_company_matches_state(client: ExmailClient, sim: SimulatorHandle) -> None:
    listed = await client.user_list(1, fetch_child=True)
    state = await state_users(sim)
    assert {u.userid for u in listed} == set(state) and len(listed) == 40
    for user in listed:
        expected = state[user.userid]
        assert isinstance(user.raw["enable"], str)  # the simulator's default: list sends enable as a string
        assert (user.name, user.department, user.enable, int(user.gender), user.slaves) == (
            expected["name"],
            expected["department"],
            expected["enable"],
            expected["gender"],
            expected["slaves"],
        )
    assert await client.user_list(1) == []  # nobody sits directly under the root


async def test_user_batchcheck_types(client: ExmailClient, sim: SimulatorHandle) -> None:
    await client.user_create(new_user(f"owner@{DOMAIN}", [1], slaves=[f"owner.alias@{DOMAIN}"]))
    names = [ADMIN, f"owner.alias@{DOMAIN}", f"all@{DOMAIN}", f"free.name@{DOMAIN}", "bad@@x", "x@other.org"]
    result = await client.user_batchcheck(names)
    assert [(r.user, r.type) for r in result] == [
        (ADMIN, AccountType.PRIMARY),
        (f"owner.alias@{DOMAIN}", AccountType.ALIAS),
        (f"all@{DOMAIN}", AccountType.GROUP),
        (f"free.name@{DOMAIN}", AccountType.AVAILABLE),
        ("bad@@x", AccountType.INVALID),
        ("x@other.org", AccountType.INVALID),
    ]


async def test_user_batchcheck_over_20_chunked_by_client(
    client: ExmailClient, calls: Callable[[str], int]
) -> None:
    names = [f"u{i}@{DOMAIN}" for i in range(45)] + [ADMIN]
    result = await client.user_batchcheck(names)
    assert [r.user for r in result] == names
    assert result[-1].type is AccountType.PRIMARY
    assert calls("user/batchcheck") == 3


async def test_user_batchcheck_over_20_in_one_call_600027(client: ExmailClient) -> None:
    """The server's limit the client's chunking avoids (sent raw through the client's call path)."""
    with pytest.raises(ValidationError) as caught:
        await client._call("user/batchcheck", body={"userlist": [f"u{i}@{DOMAIN}" for i in range(21)]})
    assert caught.value.errcode == 600027


# --- errors


ErrorCase = Callable[[ExmailClient], Awaitable[Any]]


async def _alias_taken(c: ExmailClient) -> Any:
    await c.user_create(new_user(f"owner@{DOMAIN}", [1], slaves=[f"taken.alias@{DOMAIN}"]))
    return await c.user_create(new_user(f"taken.alias@{DOMAIN}", [1]))


async def _alias_of_other(c: ExmailClient) -> Any:
    await c.user_create(new_user(f"owner@{DOMAIN}", [1], slaves=[f"taken.alias@{DOMAIN}"]))
    return await c.user_create(new_user(f"second@{DOMAIN}", [1], slaves=[f"taken.alias@{DOMAIN}"]))


def _create(**patch: Any) -> ErrorCase:
    fields: dict[str, Any] = {"userid": f"v@{DOMAIN}", "name": "V", "department": [1], "password": PASSWORD}
    fields.update(patch)
    return lambda c: c.user_create(UserCreate(**fields))


CASES: list[tuple[str, int, type[ExmailError], ErrorCase]] = [
    ("create-userid-not-mailbox", 40003, ValidationError, _create(userid="not-a-mailbox")),
    ("create-userid-foreign-domain", 40003, ValidationError, _create(userid="x@other-domain.com")),
    ("create-userid-exists", 60102, ValidationError, _create(userid=ADMIN)),
    ("create-userid-is-alias", 600001, ValidationError, _alias_taken),
    ("create-userid-is-group", 600002, ValidationError, _create(userid=f"all@{DOMAIN}")),
    ("create-name-over-64-bytes", 60112, ValidationError, _create(name="名" * 22)),
    ("create-department-unknown", 60123, ValidationError, _create(department=[555])),
    ("create-mobile-invalid", 60103, ValidationError, _create(mobile="abc")),
    ("create-tel-invalid", 600025, ValidationError, _create(tel="tel:abc")),
    ("create-extid-invalid", 600026, ValidationError, _create(extid="中文编号")),
    ("create-password-weak", 600003, ValidationError, _create(password=SecretStr("weak"))),
    ("create-no-password-no-mobile", 600003, ValidationError, _create(password=None)),
    ("create-alias-invalid", 600004, ValidationError, _create(slaves=["bad alias"])),
    ("create-alias-is-user", 600005, ValidationError, _create(slaves=[ADMIN])),
    ("create-alias-of-other-user", 600005, ValidationError, _alias_of_other),
    ("update-unknown", 60111, NotFound, lambda c: c.user_update(UserUpdate(userid=GHOST, name="x"))),
    (
        "update-department-unknown",
        60123,
        ValidationError,
        lambda c: c.user_update(UserUpdate(userid=ADMIN, department=[555])),
    ),
    ("delete-unknown", 60111, NotFound, lambda c: c.user_delete(GHOST)),
    ("get-unknown", 60111, NotFound, lambda c: c.user_get(GHOST)),
    ("get-userid-blank", 40003, ValidationError, lambda c: c.user_get(" ")),
    ("simplelist-department-unknown", 60003, NotFound, lambda c: c.user_simplelist(31337)),
    ("list-department-unknown", 60003, NotFound, lambda c: c.user_list(31337)),
]


@pytest.mark.parametrize(
    ("errcode", "cls", "case"), [c[1:] for c in CASES], ids=[f"{c[1]}-{c[0]}" for c in CASES]
)
async def test_user_refused(
    client: ExmailClient, sim: SimulatorHandle, errcode: int, cls: type[ExmailError], case: ErrorCase
) -> None:
    before = await state_users(sim)
    with pytest.raises(cls) as caught:
        await case(client)
    assert caught.value.errcode == errcode
    after = await state_users(sim)
    assert {u: after.get(u) for u in before} == before


@pytest.mark.parametrize(
    ("patch", "server_errcode"),
    [
        ({"department": list(range(2, 23))}, 60123),
        ({"slaves": [f"s{i}@{DOMAIN}" for i in range(6)]}, 600006),
        ({"gender": 3}, 60114),
    ],
    ids=["over-20-departments-60123", "over-5-aliases-600006", "gender-out-of-range-60114"],
)
async def test_user_create_refused_by_client_and_server_alike(
    client: ExmailClient, patch: dict[str, Any], server_errcode: int
) -> None:
    """The client's local rule and the server's errcode agree (the raw body goes through the call path)."""
    body: dict[str, Any] = {
        "userid": f"v@{DOMAIN}",
        "name": "V",
        "department": [1],
        "password": PASSWORD,
        **patch,
    }
    with pytest.raises(ValueError):
        UserCreate(**body)
    with pytest.raises(ValidationError) as caught:
        await client._call("user/create", body=body)
    assert caught.value.errcode == server_errcode
