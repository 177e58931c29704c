"""useroption/get and useroption/update (function-setting app) through the client against the simulator."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.exmail import (
    ExmailClient,
    ExmailError,
    NotFound,
    OperationCategory,
    OperationType,
    UserOptionType,
)
from pipeline.exmail.models import UserOption, UserOptionSetting
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
GHOST = f"ghost@{DOMAIN}"
TODAY = "2026-01-05"


async def state_options(sim: SimulatorHandle, userid: str) -> dict[int, str]:
    return {int(t): v for t, v in (await sim.admin.options())[userid].items()}


async def test_useroption_get_all_types_match_state(client: ExmailClient, sim: SimulatorHandle) -> None:
    options = await client.useroption_get(ADMIN)
    assert all(isinstance(o, UserOption) for o in options)
    assert [o.type for o in options] == list(UserOptionType)
    assert {int(o.type): o.value for o in options} == await state_options(sim, ADMIN)


async def test_useroption_get_selected_types(client: ExmailClient) -> None:
    options = await client.useroption_get(ADMIN, [UserOptionType.POP_SMTP, UserOptionType.FORCE_SECURE_LOGIN])
    assert [o.type for o in options] == [UserOptionType.POP_SMTP, UserOptionType.FORCE_SECURE_LOGIN]


async def test_useroption_update_then_get_state_and_oplog(client: ExmailClient, sim: SimulatorHandle) -> None:
    before = await state_options(sim, ADMIN)
    wanted = {UserOptionType.IMAP_SMTP: "0", UserOptionType.FORCE_SECURE_LOGIN: "1"}
    await client.useroption_update(ADMIN, wanted)
    got = {o.type: o.value for o in await client.useroption_get(ADMIN)}
    assert got[UserOptionType.IMAP_SMTP] == "0" and got[UserOptionType.FORCE_SECURE_LOGIN] == "1"
    assert got[UserOptionType.POP_SMTP] == before[3]
    assert await state_options(sim, ADMIN) == {**before, 1: "1", 2: "0"}
    records = await client.log_operation(TODAY, TODAY, category=OperationCategory.MEMBERS_AND_GROUPS)
    assert [(r.type, r.operand) for r in records] == [(OperationType.EDIT_USER, ADMIN)]


async def test_useroption_update_doc_errmsg_update_accepted(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    await sim.admin.set_choices(useroption_update_errmsg="update")
    await client.useroption_update(ADMIN, [UserOptionSetting(type=UserOptionType.POP_SMTP, value="0")])
    assert (await state_options(sim, ADMIN))[3] == "0"


async def test_useroption_get_unknown_user_60111(client: ExmailClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.useroption_get(GHOST)
    assert caught.value.errcode == 60111


async def test_useroption_update_unknown_user_60111(client: ExmailClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.useroption_update(GHOST, {UserOptionType.IMAP_SMTP: "1"})
    assert caught.value.errcode == 60111


async def test_useroption_update_invalid_value_40058(client: ExmailClient, sim: SimulatorHandle) -> None:
    before = await state_options(sim, ADMIN)
    with pytest.raises(ExmailError) as caught:
        await client.useroption_update(ADMIN, {UserOptionType.IMAP_SMTP: "2"})
    assert caught.value.errcode == 40058
    assert await state_options(sim, ADMIN) == before


async def test_useroption_update_type_4_readonly_refused_by_client_and_server_alike(
    client: ExmailClient, sim: SimulatorHandle, calls: Callable[[str], int]
) -> None:
    with pytest.raises(ValueError):
        await client.useroption_update(ADMIN, {UserOptionType.SECURE_LOGIN_ENABLED: "1"})
    assert calls("useroption/update") == 0
    with pytest.raises(ExmailError) as caught:
        await client._call("useroption/update", body={"userid": ADMIN, "option": [{"type": 4, "value": "1"}]})
    assert caught.value.errcode == 40058
    assert (await state_options(sim, ADMIN))[4] == "0"
