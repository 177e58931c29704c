"""Return codes the first round never emitted (45024, 60125, 60126, 600010-600012 errmsg), the newer group
fields (taglist, allow_department, allow_taglist) with the switchable invalid_* answers, and the table of
Exmail codes vs codes borrowed from WeCom."""

from __future__ import annotations

from typing import Any

from pipeline.sim import SimulatorHandle
from pipeline.sim._errors import BORROWED_FROM_WECOM, ERRMSG, EXMAIL_CODES

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"


async def contact(exmail: Any, endpoint: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
    return await exmail.call("contact", endpoint, body, method=method)


def test_every_code_is_exmail_or_borrowed_and_has_an_errmsg() -> None:
    assert set(ERRMSG) == EXMAIL_CODES | BORROWED_FROM_WECOM
    assert not EXMAIL_CODES & BORROWED_FROM_WECOM
    assert {40013, 40091, 45024, 60125, 60126, 600010, 600011, 600012} <= EXMAIL_CODES
    assert all(msg and msg != "error" for msg in ERRMSG.values())
    assert (ERRMSG[600010], ERRMSG[600011], ERRMSG[600012]) == ("invalid userlist", "invalid grouplist",
                                                                "invalid partylist")


async def test_disabled_corp_answers_45024_everywhere(exmail: Any, sim: SimulatorHandle) -> None:
    token = await exmail.token("contact")
    await sim.admin.set_choices(corp_disabled=True)
    assert (await contact(exmail, "user/get", {"userid": ADMIN}, method="GET")) == {
        "errcode": 45024, "errmsg": "corp disabled"}
    gettoken = await exmail.http.get("gettoken", params={"corpid": exmail.creds["corp_id"],
                                                         "corpsecret": exmail.creds["secrets"]["contact"]})
    assert gettoken.json()["errcode"] == 45024
    await sim.admin.set_choices(corp_disabled=False)
    assert (await exmail.call("contact", "user/get", {"userid": ADMIN}, method="GET", token=token))["errcode"] == 0


async def test_department_name_60125_and_creation_failure_60126(exmail: Any, sim: SimulatorHandle) -> None:
    assert (await contact(exmail, "department/create", {"name": "   ", "parentid": 1}))["errcode"] == 60125
    assert (await contact(exmail, "department/create", {"name": "a\tb", "parentid": 1}))["errcode"] == 60125
    assert (await contact(exmail, "department/create", {"name": "", "parentid": 1}))["errcode"] == 60001
    count = len((await sim.admin.directory())["departments"])
    await sim.admin.set_choices(max_departments=count)
    r = await contact(exmail, "department/create", {"name": "one too many", "parentid": 1})
    assert r == {"errcode": 60126, "errmsg": "create department failed"}


async def test_group_lists_of_the_wrong_type_answer_600010_600012(exmail: Any) -> None:
    base = {"groupid": f"typed@{DOMAIN}", "groupname": "T", "allow_type": 0}
    for field, code, msg in (("userlist", 600010, "invalid userlist"), ("grouplist", 600011, "invalid grouplist"),
                             ("department", 600012, "invalid partylist")):
        r = await contact(exmail, "group/create", {**base, field: "not-a-list"})
        assert r == {"errcode": code, "errmsg": msg}


async def test_group_taglist_and_allow_lists_round_trip(exmail: Any) -> None:
    gid = f"tagged@{DOMAIN}"
    r = await contact(exmail, "group/create", {"groupid": gid, "groupname": "Tagged", "taglist": [1],
                                               "allow_type": 3, "allow_department": [1], "allow_taglist": [2]})
    assert r == {"errcode": 0, "errmsg": "created"}
    got = await contact(exmail, "group/get", {"groupid": gid}, method="GET")
    assert (got["taglist"], got["allow_department"], got["allow_taglist"], got["allow_userlist"]) == (
        [1], [1], [2], [])
    r = await contact(exmail, "group/update", {"groupid": gid, "allow_type": 0})
    got = await contact(exmail, "group/get", {"groupid": gid}, method="GET")
    assert (got["allow_department"], got["allow_taglist"]) == ([], [])  # allow_* only mean something with 3
    r = await contact(exmail, "group/create", {"groupid": f"g3@{DOMAIN}", "groupname": "G", "taglist": [1],
                                               "allow_type": 3})
    assert r["errcode"] == 600023
    r = await contact(exmail, "group/create", {"groupid": f"g4@{DOMAIN}", "groupname": "G", "taglist": [999],
                                               "allow_type": 0})
    assert r["errcode"] == 40068


async def test_group_invalid_members_partial_mode_lists_what_was_dropped(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.set_choices(group_invalid_members="partial")
    gid = f"partial@{DOMAIN}"
    r = await contact(exmail, "group/create", {
        "groupid": gid, "groupname": "P", "userlist": [ADMIN, f"ghost@{DOMAIN}"], "department": [1, 42],
        "taglist": [1, 999], "grouplist": [f"nogroup@{DOMAIN}"], "allow_type": 0})
    assert r == {"errcode": 0, "errmsg": "created", "invalid_userlist": [f"ghost@{DOMAIN}"],
                 "invalid_departlist": [42], "invalid_taglist": [999], "invalid_grouplist": [f"nogroup@{DOMAIN}"]}
    got = await contact(exmail, "group/get", {"groupid": gid}, method="GET")
    assert (got["userlist"], got["department"], got["taglist"], got["grouplist"]) == ([ADMIN], [1], [1], [])
    r = await contact(exmail, "group/update", {"groupid": gid, "userlist": [f"ghost2@{DOMAIN}", ADMIN]})
    assert r == {"errcode": 0, "errmsg": "updated", "invalid_userlist": [f"ghost2@{DOMAIN}"]}
    await sim.admin.set_choices(group_invalid_members="error")
    r = await contact(exmail, "group/update", {"groupid": gid, "userlist": [f"ghost2@{DOMAIN}"]})
    assert r["errcode"] == 600016
