"""Conformance table for the address-book endpoints (departments, users, groups, tags) of the simulator."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from pipeline.sim import SimulatorHandle

DOMAIN = "corp.example.com"
PW = "Passw0rd1"


async def contact(exmail: Any, endpoint: str, body: dict[str, Any] | None = None, method: str = "POST") -> Any:
    return await exmail.call("contact", endpoint, body, method=method)


async def new_dept(exmail: Any, name: str, parentid: int = 1) -> int:
    r = await contact(exmail, "department/create", {"name": name, "parentid": parentid, "order": 20000})
    assert r["errcode"] == 0 and r["errmsg"] == "created", r
    return int(r["id"])


async def op_log(exmail: Any) -> list[dict[str, Any]]:
    r = await exmail.call("system_log", "log/operation", {"begin_date": "2026-01-05", "end_date": "2026-01-05",
                                                          "type": 1})
    return r["list"]


# --- departments

async def test_department_create_returns_created_and_int64_id(exmail: Any, sim: SimulatorHandle) -> None:
    resp = await exmail.http.post("department/create", params={"access_token": await exmail.token("contact")},
                                  json={"name": "安全组", "parentid": 1})
    assert b'"id":' in resp.content
    body = resp.json()
    assert body["errcode"] == 0 and body["errmsg"] == "created"
    assert isinstance(body["id"], int) and body["id"] >= 10**18
    # emitted as a JSON number, not a string
    assert f'"id":{body["id"]}'.encode() in resp.content
    assert any(r["type"] == 28 and r["operand"] == "安全组" for r in await op_log(exmail))


async def test_department_create_bad_name_returns_60001_and_60009(exmail: Any) -> None:
    assert (await contact(exmail, "department/create", {"name": "", "parentid": 1}))["errcode"] == 60001
    assert (await contact(exmail, "department/create", {"name": "x" * 65, "parentid": 1}))["errcode"] == 60001
    assert (await contact(exmail, "department/create", {"name": "a:b", "parentid": 1}))["errcode"] == 60009
    assert (await contact(exmail, "department/create", {"name": "a｜b", "parentid": 1}))["errcode"] == 60009


async def test_department_create_missing_parent_returns_60004(exmail: Any) -> None:
    r = await contact(exmail, "department/create", {"name": "orphan", "parentid": 1234567890123456789})
    assert r["errcode"] == 60004


async def test_department_create_duplicate_sibling_returns_60008(exmail: Any) -> None:
    await new_dept(exmail, "重名")
    assert (await contact(exmail, "department/create", {"name": "重名", "parentid": 1}))["errcode"] == 60008


async def test_department_create_reserved_order_forced_to_zero(exmail: Any) -> None:
    r = await contact(exmail, "department/create", {"name": "ordered", "parentid": 1, "order": 50})
    listed = await contact(exmail, "department/list", {"id": r["id"]}, method="GET")
    assert listed["department"][0]["order"] == 0


async def test_department_update_returns_updated_and_logs_move(exmail: Any) -> None:
    a = await new_dept(exmail, "A部")
    b = await new_dept(exmail, "B部")
    r = await contact(exmail, "department/update", {"id": a, "parentid": b, "name": "A部2"})
    assert r == {"errcode": 0, "errmsg": "updated"}
    types = {(x["type"], x["operand"]) for x in await op_log(exmail)}
    assert (31, "A部2") in types and (30, "A部2") in types


async def test_department_update_unknown_returns_60003_missing_id_60127_cycle_60010(exmail: Any) -> None:
    assert (await contact(exmail, "department/update", {"id": 999, "name": "x"}))["errcode"] == 60003
    assert (await contact(exmail, "department/update", {"name": "x"}))["errcode"] == 60127
    a = await new_dept(exmail, "父")
    b = await new_dept(exmail, "子", a)
    assert (await contact(exmail, "department/update", {"id": a, "parentid": b}))["errcode"] == 60010


async def test_department_delete_returns_deleted(exmail: Any) -> None:
    d = await new_dept(exmail, "临时")
    assert await contact(exmail, "department/delete", {"id": d}, method="GET") == {"errcode": 0,
                                                                                   "errmsg": "deleted"}
    assert any(r["type"] == 29 for r in await op_log(exmail))


async def test_department_delete_root_children_members_unknown_codes(exmail: Any) -> None:
    assert (await contact(exmail, "department/delete", {"id": 1}, method="GET"))["errcode"] == 60007
    parent = await new_dept(exmail, "有子部门")
    await new_dept(exmail, "子部门", parent)
    assert (await contact(exmail, "department/delete", {"id": parent}, method="GET"))["errcode"] == 60006
    with_member = await new_dept(exmail, "有成员")
    r = await contact(exmail, "user/create", {"userid": f"m1@{DOMAIN}", "name": "M", "department": [with_member],
                                              "password": PW})
    assert r["errcode"] == 0
    assert (await contact(exmail, "department/delete", {"id": with_member}, method="GET"))["errcode"] == 60005
    assert (await contact(exmail, "department/delete", {"id": 42}, method="GET"))["errcode"] == 60003


async def test_department_list_whole_tree_sorted_by_order_with_root(exmail: Any) -> None:
    r = await contact(exmail, "department/list", method="GET")
    depts = r["department"]
    assert depts[0] == {"id": 1, "name": "示例科技有限公司", "parentid": 0, "order": 0}
    assert [d["order"] for d in depts] == sorted(d["order"] for d in depts)
    assert all(d["id"] >= 10**18 for d in depts[1:])
    assert len(depts) > 20


async def test_department_list_subtree_includes_self_by_default(exmail: Any, sim: SimulatorHandle) -> None:
    parent = await new_dept(exmail, "树")
    child = await new_dept(exmail, "枝", parent)
    ids = [d["id"] for d in (await contact(exmail, "department/list", {"id": parent}, method="GET"))["department"]]
    assert set(ids) == {parent, child}
    await sim.admin.set_choices(department_list_includes_self=False)
    ids = [d["id"] for d in (await contact(exmail, "department/list", {"id": parent}, method="GET"))["department"]]
    assert ids == [child]
    assert (await contact(exmail, "department/list", {"id": 77}, method="GET"))["errcode"] == 60003


async def test_department_search_exact_and_fuzzy_with_path(exmail: Any) -> None:
    r = await contact(exmail, "department/search", {"name": "后端组", "fuzzy": 0})
    assert r["errcode"] == 0 and len(r["department"]) == 1
    assert r["department"][0]["path"] == "研发中心/后端组"
    fuzzy = await contact(exmail, "department/search", {"name": "销售", "fuzzy": 1})
    assert len(fuzzy["department"]) >= 4
    assert (await contact(exmail, "department/search", {"name": ""}))["errcode"] == 60001


# --- users

async def test_user_create_get_update_delete_happy_path(exmail: Any) -> None:
    dept = await new_dept(exmail, "成员测试")
    userid = f"new.user@{DOMAIN}"
    r = await contact(exmail, "user/create", {"userid": userid, "name": "新用户", "department": [dept],
                                              "position": "工程师", "mobile": "13800000000", "gender": "2",
                                              "password": PW, "slaves": [f"nu@{DOMAIN}"], "cpwd_login": 1})
    assert r == {"errcode": 0, "errmsg": "created"}
    got = await contact(exmail, "user/get", {"userid": userid}, method="GET")
    assert got["errcode"] == 0 and got["errmsg"] == "ok"
    assert got["department"] == [dept] and got["gender"] == "2" and got["enable"] == 1
    assert got["slaves"] == [f"nu@{DOMAIN}"] and got["cpwd_login"] == 1
    assert "password" not in got
    r = await contact(exmail, "user/update", {"userid": userid, "name": "改名", "enable": 0})
    assert r == {"errcode": 0, "errmsg": "updated"}
    got = await contact(exmail, "user/get", {"userid": userid}, method="GET")
    assert got["name"] == "改名" and got["enable"] == 0
    assert await contact(exmail, "user/delete", {"userid": userid}, method="GET") == {"errcode": 0,
                                                                                      "errmsg": "deleted"}
    types = [x["type"] for x in await op_log(exmail) if x["operand"] == userid]
    assert types == [19, 22, 23, 20]


async def test_user_get_unknown_returns_60111_userid_not_found(exmail: Any) -> None:
    r = await contact(exmail, "user/get", {"userid": f"ghost@{DOMAIN}"}, method="GET")
    assert r == {"errcode": 60111, "errmsg": "userid not found"}


async def test_user_update_and_delete_unknown_return_60111(exmail: Any) -> None:
    assert (await contact(exmail, "user/update", {"userid": f"ghost@{DOMAIN}", "name": "x"}))["errcode"] == 60111
    assert (await contact(exmail, "user/delete", {"userid": f"ghost@{DOMAIN}"}, method="GET"))["errcode"] == 60111


async def test_user_create_validation_codes(exmail: Any) -> None:
    base = {"userid": f"v@{DOMAIN}", "name": "V", "department": [1], "password": PW}
    cases = [
        ({"userid": "not-a-mailbox"}, 40003),
        ({"userid": "x@other-domain.com"}, 40003),
        ({"name": ""}, 60112),
        ({"department": list(range(21))}, 60123),
        ({"department": [555]}, 60123),
        ({"mobile": "abc"}, 60103),
        ({"gender": "3"}, 60114),
        ({"password": "weak"}, 600003),
        ({"slaves": [f"s{i}@{DOMAIN}" for i in range(6)]}, 600006),
        ({"slaves": ["bad alias"]}, 600004),
        ({"slaves": [f"admin@{DOMAIN}"]}, 600005),
        ({"tel": "tel:abc"}, 600025),
        ({"extid": "中文编号"}, 600026),
    ]
    for patch, code in cases:
        r = await contact(exmail, "user/create", {**base, **patch})
        assert r["errcode"] == code, (patch, r)


async def test_user_create_conflicts_60102_600001_600002(exmail: Any) -> None:
    r = await contact(exmail, "user/create", {"userid": f"admin@{DOMAIN}", "name": "X", "department": [1],
                                              "password": PW})
    assert r["errcode"] == 60102
    await contact(exmail, "user/create", {"userid": f"owner@{DOMAIN}", "name": "O", "department": [1],
                                          "password": PW, "slaves": [f"taken.alias@{DOMAIN}"]})
    r = await contact(exmail, "user/create", {"userid": f"taken.alias@{DOMAIN}", "name": "X", "department": [1],
                                              "password": PW})
    assert r["errcode"] == 600001
    r = await contact(exmail, "user/create", {"userid": f"all@{DOMAIN}", "name": "X", "department": [1],
                                              "password": PW})
    assert r["errcode"] == 600002


async def test_user_gender_accepted_as_number_or_string(exmail: Any) -> None:
    r = await contact(exmail, "user/create", {"userid": f"g@{DOMAIN}", "name": "G", "department": [1],
                                              "password": PW, "gender": 1})
    assert r["errcode"] == 0
    assert (await contact(exmail, "user/get", {"userid": f"g@{DOMAIN}"}, method="GET"))["gender"] == "1"


async def test_user_simplelist_and_list_with_fetch_child(exmail: Any) -> None:
    parent = await new_dept(exmail, "列表父")
    child = await new_dept(exmail, "列表子", parent)
    for i, d in enumerate([parent, child]):
        await contact(exmail, "user/create", {"userid": f"l{i}@{DOMAIN}", "name": f"L{i}", "department": [d],
                                              "password": PW})
    direct = await contact(exmail, "user/simplelist", {"department_id": parent}, method="GET")
    assert direct["userlist"] == [{"userid": f"l0@{DOMAIN}", "name": "L0", "department": [parent]}]
    deep = await contact(exmail, "user/list", {"department_id": parent, "fetch_child": 1}, method="GET")
    assert {u["userid"] for u in deep["userlist"]} == {f"l0@{DOMAIN}", f"l1@{DOMAIN}"}
    full = deep["userlist"][0]
    assert set(full) >= {"userid", "name", "department", "position", "mobile", "tel", "extid", "gender",
                         "enable", "slaves", "cpwd_login"}
    assert full["enable"] == "1"
    everyone = await contact(exmail, "user/simplelist", {"department_id": 1, "fetch_child": 1}, method="GET")
    assert len(everyone["userlist"]) >= 40
    assert (await contact(exmail, "user/list", {"department_id": 31337}, method="GET"))["errcode"] == 60003


async def test_user_batchcheck_types_and_600027(exmail: Any) -> None:
    directory = await exmail.handle.admin.directory()
    alias = next(iter(directory["aliases"]), None)
    names = [f"admin@{DOMAIN}", f"all@{DOMAIN}", f"free.name@{DOMAIN}", "bad@@x"]
    if alias:
        names.append(alias)
    r = await contact(exmail, "user/batchcheck", {"userlist": names})
    types = {x["user"]: x["type"] for x in r["list"]}
    assert types[f"admin@{DOMAIN}"] == 1 and types[f"all@{DOMAIN}"] == 3
    assert types[f"free.name@{DOMAIN}"] == 0 and types["bad@@x"] == -1
    if alias:
        assert types[alias] == 2
    r = await contact(exmail, "user/batchcheck", {"userlist": [f"u{i}@{DOMAIN}" for i in range(21)]})
    assert r["errcode"] == 600027


# --- groups

async def test_group_create_get_update_delete_happy_path(exmail: Any) -> None:
    gid = f"team@{DOMAIN}"
    r = await contact(exmail, "group/create", {"groupid": gid, "groupname": "Team", "userlist": [f"admin@{DOMAIN}"],
                                               "allow_type": 3, "allow_userlist": [f"admin@{DOMAIN}"]})
    assert r == {"errcode": 0, "errmsg": "created"}
    got = await contact(exmail, "group/get", {"groupid": gid}, method="GET")
    assert got["errcode"] == 0 and got["allow_type"] == 3 and got["userlist"] == [f"admin@{DOMAIN}"]
    assert set(got) >= {"groupid", "groupname", "userlist", "grouplist", "department", "allow_type",
                        "allow_userlist"}
    r = await contact(exmail, "group/update", {"groupid": gid, "userlist": [f"it.ops@{DOMAIN}"], "allow_type": 0})
    assert r == {"errcode": 0, "errmsg": "updated"}
    got = await contact(exmail, "group/get", {"groupid": gid}, method="GET")
    assert got["userlist"] == [f"it.ops@{DOMAIN}"] and got["allow_userlist"] == []
    assert await contact(exmail, "group/delete", {"groupid": gid}, method="GET") == {"errcode": 0,
                                                                                     "errmsg": "deleted"}
    assert [x["type"] for x in await op_log(exmail) if x["operand"] == gid] == [32, 34, 33]


async def test_group_update_merge_choice(exmail: Any, sim: SimulatorHandle) -> None:
    gid = f"merge@{DOMAIN}"
    await contact(exmail, "group/create", {"groupid": gid, "groupname": "M", "userlist": [f"admin@{DOMAIN}"],
                                           "allow_type": 0})
    await sim.admin.set_choices(group_update_lists="merge")
    await contact(exmail, "group/update", {"groupid": gid, "userlist": [f"it.ops@{DOMAIN}"]})
    got = await contact(exmail, "group/get", {"groupid": gid}, method="GET")
    assert got["userlist"] == [f"admin@{DOMAIN}", f"it.ops@{DOMAIN}"]


async def test_group_validation_codes(exmail: Any) -> None:
    ok = {"groupid": f"g1@{DOMAIN}", "groupname": "G", "userlist": [f"admin@{DOMAIN}"], "allow_type": 0}
    cases = [
        ({"groupid": "nope"}, 600007),
        ({"groupid": f"all@{DOMAIN}"}, 600015),
        ({"groupid": f"admin@{DOMAIN}"}, 600024),
        ({"userlist": []}, 600009),
        ({"userlist": [f"ghost@{DOMAIN}"]}, 600016),
        ({"grouplist": [f"ghost@{DOMAIN}"]}, 600018),
        ({"department": [99]}, 600017),
        ({"allow_type": 4}, 600013),
        ({"allow_type": 3}, 600023),
        ({"groupname": "a|b"}, 600019),
    ]
    for patch, code in cases:
        r = await contact(exmail, "group/create", {**ok, **patch})
        assert r["errcode"] == code, (patch, r)
    assert (await contact(exmail, "group/get", {"groupid": f"ghost@{DOMAIN}"}, method="GET"))["errcode"] == 600008
    assert (await contact(exmail, "group/update", {"groupid": f"ghost@{DOMAIN}"}))["errcode"] == 600008
    assert (await contact(exmail, "group/delete", {"groupid": f"ghost@{DOMAIN}"}, method="GET"))["errcode"] == 600008


async def test_group_nesting_cycle_returns_600020(exmail: Any) -> None:
    await contact(exmail, "group/create", {"groupid": f"ga@{DOMAIN}", "groupname": "A",
                                           "userlist": [f"admin@{DOMAIN}"], "allow_type": 0})
    await contact(exmail, "group/create", {"groupid": f"gb@{DOMAIN}", "groupname": "B",
                                           "grouplist": [f"ga@{DOMAIN}"], "allow_type": 0})
    r = await contact(exmail, "group/update", {"groupid": f"ga@{DOMAIN}", "grouplist": [f"gb@{DOMAIN}"]})
    assert r["errcode"] == 600020


# --- tags

async def test_tag_create_update_get_list_delete(exmail: Any) -> None:
    r = await contact(exmail, "tag/create", {"tagname": "值班"})
    assert r["errcode"] == 0 and r["errmsg"] == "created" and r["tagid"] == 4
    assert (await contact(exmail, "tag/create", {"tagname": "指定", "tagid": 100}))["tagid"] == 100
    assert await contact(exmail, "tag/update", {"tagid": 4, "tagname": "值班2"}) == {"errcode": 0,
                                                                                      "errmsg": "updated"}
    r = await contact(exmail, "tag/addtagusers", {"tagid": 4, "userlist": [f"admin@{DOMAIN}"], "partylist": [1]})
    assert r == {"errcode": 0, "errmsg": "ok"}
    got = await contact(exmail, "tag/get", {"tagid": 4}, method="GET")
    assert got["tagname"] == "值班2" and got["userlist"] == [{"userid": f"admin@{DOMAIN}", "name": "系统管理员"}]
    assert got["partylist"] == [1]
    listed = await contact(exmail, "tag/list", method="GET")
    assert {"tagid": 4, "tagname": "值班2"} in listed["taglist"]
    r = await contact(exmail, "tag/deltagusers", {"tagid": 4, "userlist": [f"admin@{DOMAIN}"]})
    assert r == {"errcode": 0, "errmsg": "deleted"}
    assert await contact(exmail, "tag/delete", {"tagid": 4}, method="GET") == {"errcode": 0, "errmsg": "deleted"}
    assert (await contact(exmail, "tag/get", {"tagid": 4}, method="GET"))["errcode"] == 40068


async def test_tag_partial_and_all_invalid_members(exmail: Any) -> None:
    tagid = (await contact(exmail, "tag/create", {"tagname": "部分"}))["tagid"]
    r = await contact(exmail, "tag/addtagusers", {"tagid": tagid, "userlist": [f"admin@{DOMAIN}", f"x@{DOMAIN}",
                                                                              f"y@{DOMAIN}"], "partylist": [5]})
    assert r["errcode"] == 0 and r["invalidlist"] == f"x@{DOMAIN}|y@{DOMAIN}" and r["invalidparty"] == [5]
    assert (await contact(exmail, "tag/addtagusers", {"tagid": tagid, "userlist": [f"x@{DOMAIN}"]})) == {
        "errcode": 40070, "errmsg": "all list invalid"}
    assert (await contact(exmail, "tag/deltagusers", {"tagid": tagid, "userlist": [f"x@{DOMAIN}"]})) == {
        "errcode": 40031, "errmsg": "all list invalid"}


async def test_tag_duplicate_name_returns_40071(exmail: Any) -> None:
    assert (await contact(exmail, "tag/create", {"tagname": "管理层"}))["errcode"] == 40071


async def test_contact_token_cannot_call_other_apps_602005(exmail: Any) -> None:
    token = await exmail.token("contact")
    for app_endpoint in ("log/mail", "mail/newcount", "useroption/get", "service/get_login_url"):
        r = await exmail.call("contact", app_endpoint, {"userid": f"admin@{DOMAIN}"}, token=token)
        assert r["errcode"] == 602005, app_endpoint


async def test_malformed_json_body_returns_47001(exmail: Any) -> None:
    resp = await exmail.http.post("user/create", params={"access_token": await exmail.token("contact")},
                                  content=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.json()["errcode"] == 47001


async def test_big_department_ids_survive_json_round_trip(exmail: Any, sim: SimulatorHandle) -> None:
    async with httpx.AsyncClient(base_url=sim.exmail_base) as http:
        resp = await http.get("department/list", params={"access_token": await exmail.token("contact")})
    ids = [d["id"] for d in orjson.loads(resp.content)["department"]]
    directory = await sim.admin.directory()
    assert set(ids) == {d["id"] for d in directory["departments"]}
