"""tag/create, update, delete, get, addtagusers, deltagusers, list through the client against the simulator,
including partial failures (`invalidlist` "a|b" + `invalidparty`) and the all-invalid codes 40070 / 40031."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from pipeline.exmail import ExmailClient, ExmailError, ValidationError
from pipeline.exmail.models import Tag, TagDetail, TagMember
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
OPS = f"it.ops@{DOMAIN}"
TODAY = "2026-01-05"


async def state_tags(sim: SimulatorHandle) -> dict[int, dict[str, object]]:
    return {t["tagid"]: t for t in (await sim.admin.directory())["tags"]}


async def test_tag_create_next_id_and_explicit_id(client: ExmailClient, sim: SimulatorHandle) -> None:
    seeded = max(await state_tags(sim))
    assert await client.tag_create("值班") == seeded + 1
    assert await client.tag_create("指定", tagid=100) == 100
    assert await client.tag_create("之后") == 101
    assert {100, 101, seeded + 1} <= set(await state_tags(sim))


async def test_tag_update_then_list(client: ExmailClient, sim: SimulatorHandle) -> None:
    tagid = await client.tag_create("值班")
    await client.tag_update(tagid, "值班2")
    listed = await client.tag_list()
    assert all(isinstance(t, Tag) for t in listed)
    assert {t.tagid: t.tagname for t in listed} == {
        i: t["tagname"] for i, t in (await state_tags(sim)).items()
    }
    assert [t.tagid for t in listed] == sorted(t.tagid for t in listed)
    assert await client.log_operation(TODAY, TODAY) == []  # the simulator logs no tag writes


async def test_tag_addtagusers_then_get(client: ExmailClient, sim: SimulatorHandle) -> None:
    tagid = await client.tag_create("成员")
    result = await client.tag_add_users(tagid, userlist=[ADMIN, OPS], partylist=[1])
    assert (result.invalidlist, result.invalidparty) == ([], [])
    detail = await client.tag_get(tagid)
    assert isinstance(detail, TagDetail)
    assert detail.tagname == "成员"
    assert detail.userlist == [
        TagMember(userid=ADMIN, name="系统管理员"),
        TagMember(userid=OPS, name="IT运维"),
    ]
    assert detail.partylist == [1]
    assert (await state_tags(sim))[tagid]["userlist"] == [ADMIN, OPS]


async def test_tag_addtagusers_partial_invalid_reported(client: ExmailClient) -> None:
    tagid = await client.tag_create("部分")
    result = await client.tag_add_users(
        tagid, userlist=[ADMIN, f"x@{DOMAIN}", f"y@{DOMAIN}"], partylist=[1, 5]
    )
    assert result.invalidlist == [f"x@{DOMAIN}", f"y@{DOMAIN}"]
    assert result.invalidparty == [5]
    detail = await client.tag_get(tagid)
    assert ([u.userid for u in detail.userlist], detail.partylist) == ([ADMIN], [1])


async def test_tag_deltagusers_partial_invalid_reported(client: ExmailClient) -> None:
    tagid = await client.tag_create("删除")
    await client.tag_add_users(tagid, userlist=[ADMIN, OPS])
    result = await client.tag_delete_users(tagid, userlist=[ADMIN, f"x@{DOMAIN}"], partylist=[1])
    assert (result.invalidlist, result.invalidparty) == ([f"x@{DOMAIN}"], [1])
    assert [u.userid for u in (await client.tag_get(tagid)).userlist] == [OPS]


async def test_tag_delete_state(client: ExmailClient, sim: SimulatorHandle) -> None:
    tagid = await client.tag_create("临时")
    await client.tag_delete(tagid)
    assert tagid not in await state_tags(sim)
    with pytest.raises(ExmailError) as caught:
        await client.tag_get(tagid)
    assert caught.value.errcode == 40068


async def test_tag_addtagusers_all_invalid_40070(client: ExmailClient) -> None:
    tagid = await client.tag_create("全错")
    with pytest.raises(ValidationError) as caught:
        await client.tag_add_users(tagid, userlist=[f"x@{DOMAIN}"], partylist=[5])
    assert (caught.value.errcode, caught.value.errmsg) == (40070, "all list invalid")


async def test_tag_deltagusers_all_invalid_40031(client: ExmailClient) -> None:
    tagid = await client.tag_create("全错")
    with pytest.raises(ValidationError) as caught:
        await client.tag_delete_users(tagid, userlist=[ADMIN])
    assert (caught.value.errcode, caught.value.errmsg) == (40031, "all list invalid")


@pytest.mark.parametrize(
    ("call", "errcode"),
    [
        (lambda c: c.tag_get(999), 40068),
        (lambda c: c.tag_update(999, "x"), 40068),
        (lambda c: c.tag_delete(999), 40068),
        (lambda c: c.tag_create("重复", tagid=1), 40068),
        (lambda c: c.tag_create("管理层"), 40071),
        (lambda c: c.tag_create("x" * 33), 40071),
    ],
    ids=[
        "get-unknown-40068",
        "update-unknown-40068",
        "delete-unknown-40068",
        "create-id-taken-40068",
        "create-name-taken-40071",
        "create-name-over-32-40071",
    ],
)
async def test_tag_refused_with_simulator_codes(
    client: ExmailClient, call: Callable[[ExmailClient], Awaitable[object]], errcode: int
) -> None:
    """40068/40071 are borrowed from WeCom by the simulator; the client raises its base error, not retried."""
    with pytest.raises(ExmailError) as caught:
        await call(client)
    assert type(caught.value) is ExmailError and caught.value.errcode == errcode


async def test_tag_members_empty_refused_by_client_and_server_alike(
    client: ExmailClient, calls: Callable[[str], int]
) -> None:
    with pytest.raises(ValueError):
        await client.tag_add_users(1)
    assert calls("tag/addtagusers") == 0
    with pytest.raises(ValidationError) as caught:
        await client._call("tag/addtagusers", body={"tagid": 1})
    assert caught.value.errcode == 40070
