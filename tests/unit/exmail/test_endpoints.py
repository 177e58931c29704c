"""Conformance: every endpoint's HTTP method, path, query parameters, JSON body, app token and parsed answer."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from pipeline.exmail import (
    ENDPOINTS,
    AccountType,
    AllowType,
    App,
    ExmailClient,
    Gender,
    MailType,
    OperationCategory,
)
from pipeline.exmail.models import (
    DepartmentCreate,
    DepartmentUpdate,
    GroupCreate,
    GroupUpdate,
    LoginType,
    MailStatus,
    OperationType,
    UserCreate,
    UserOptionSetting,
    UserOptionType,
    UserUpdate,
)

BIG_ID = 4913577855806636138


def _token_app(fake: Any, path: str) -> App:
    return fake.tokens[fake.last(path).url.params["access_token"]]


def test_endpoint_table_covers_every_endpoint_of_the_reference() -> None:
    assert set(ENDPOINTS) == {
        "department/create", "department/update", "department/delete", "department/list", "department/search",
        "user/create", "user/update", "user/delete", "user/get", "user/simplelist", "user/list",
        "user/batchcheck", "group/create", "group/update", "group/delete", "group/get",
        "tag/create", "tag/update", "tag/delete", "tag/get", "tag/addtagusers", "tag/deltagusers", "tag/list",
        "useroption/get", "useroption/update", "mail/newcount",
        "log/mailstatus", "log/mail", "log/login", "log/batchjob", "log/operation",
        "service/get_login_url",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("prefix", "app"),
    [
        ("department/", App.CONTACT), ("user/", App.CONTACT), ("group/", App.CONTACT), ("tag/", App.CONTACT),
        ("useroption/", App.FUNCTION_SETTING), ("mail/", App.MAIL_NOTICE), ("log/", App.SYSTEM_LOG),
        ("service/", App.SSO),
    ],
)  # fmt: skip
def test_endpoint_family_belongs_to_its_app(prefix: str, app: App) -> None:
    family = [e for path, e in ENDPOINTS.items() if path.startswith(prefix)]
    assert family and all(e.app is app for e in family)


def test_reads_and_deletes_are_get_writes_search_batchcheck_logs_useroption_are_post() -> None:
    for path, endpoint in ENDPOINTS.items():
        is_get = path.endswith(("/delete", "/get", "/list", "/simplelist")) and not path.startswith("useroption")
        is_get = is_get or path in {"mail/newcount", "service/get_login_url"}
        assert endpoint.method == ("GET" if is_get else "POST"), path


async def test_gettoken_is_get_with_corpid_and_the_apps_secret_in_the_query(
    client: ExmailClient, fake: Any,
) -> None:
    token = await client.fetch_token(App.SYSTEM_LOG)
    request = fake.last("gettoken")
    assert request.method == "GET"
    assert dict(request.url.params) == {"corpid": fake.corp_id, "corpsecret": fake.secrets[App.SYSTEM_LOG]}
    assert token.access_token.get_secret_value().startswith("TOKENSYSTEM_LOG")
    assert token.expires_in == 7200


async def test_access_token_travels_in_the_query_string_for_get_and_post(
    client: ExmailClient, fake: Any,
) -> None:
    await client.user_delete("alice@example.com")
    await client.department_search("R&D")
    for path in ("user/delete", "department/search"):
        assert fake.last(path).url.params["access_token"] in fake.tokens
    assert "access_token" not in fake.body("department/search")


async def test_post_bodies_are_json_utf8(client: ExmailClient, fake: Any) -> None:
    await client.department_search("研发部")
    request = fake.last("department/search")
    assert request.headers["content-type"].startswith("application/json")
    assert fake.body("department/search") == {"name": "研发部", "fuzzy": 0}


# ---------------------------------------------------------------- departments


async def test_department_create_posts_name_parentid_order_and_returns_int64_id(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("department/create", {"errcode": 0, "errmsg": "created", "id": BIG_ID})
    new_id = await client.department_create(DepartmentCreate(name="R&D", parentid=1, order=10))
    assert new_id == BIG_ID
    assert fake.method("department/create") == "POST"
    assert fake.body("department/create") == {"name": "R&D", "parentid": 1, "order": 10}
    assert _token_app(fake, "department/create") is App.CONTACT


async def test_department_create_omits_unset_order(client: ExmailClient, fake: Any) -> None:
    fake.on("department/create", {"errcode": 0, "errmsg": "created", "id": 2})
    await client.department_create(DepartmentCreate(name="Ops", parentid=BIG_ID))
    assert fake.body("department/create") == {"name": "Ops", "parentid": BIG_ID}


async def test_department_update_posts_id_and_only_the_given_fields(client: ExmailClient, fake: Any) -> None:
    await client.department_update(DepartmentUpdate(id=BIG_ID, name="R&D 2"))
    assert fake.method("department/update") == "POST"
    assert fake.body("department/update") == {"id": BIG_ID, "name": "R&D 2"}


async def test_department_delete_is_get_with_id_query(client: ExmailClient, fake: Any) -> None:
    await client.department_delete(BIG_ID)
    assert fake.method("department/delete") == "GET"
    assert fake.params("department/delete") == {"id": str(BIG_ID)}
    assert fake.last("department/delete").content == b""


async def test_department_list_is_get_with_optional_id_and_parses_departments(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("department/list", {"errcode": 0, "errmsg": "ok", "department": [
        {"id": BIG_ID, "name": "R&D", "parentid": 1, "order": 10},
        {"id": BIG_ID + 62, "name": "Mail team", "parentid": BIG_ID, "order": 40},
    ]})  # fmt: skip
    departments = await client.department_list(BIG_ID)
    assert fake.method("department/list") == "GET"
    assert fake.params("department/list") == {"id": str(BIG_ID)}
    assert [(d.id, d.name, d.parentid, d.order) for d in departments] == [
        (BIG_ID, "R&D", 1, 10),
        (BIG_ID + 62, "Mail team", BIG_ID, 40),
    ]


async def test_department_list_without_id_sends_no_id(client: ExmailClient, fake: Any) -> None:
    await client.department_list()
    assert fake.params("department/list") == {}


async def test_department_search_posts_name_and_fuzzy_and_parses_path(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("department/search", {"errcode": 0, "errmsg": "ok", "department": [
        {"id": BIG_ID, "name": "Mail team", "parentid": 1, "order": 0, "path": "R&D/Mail team"}]})  # fmt: skip
    found = await client.department_search("Mail", fuzzy=True)
    assert fake.method("department/search") == "POST"
    assert fake.body("department/search") == {"name": "Mail", "fuzzy": 1}
    assert found[0].path == "R&D/Mail team" and found[0].id == BIG_ID


# ---------------------------------------------------------------- users


async def test_user_create_posts_fields_with_gender_as_string_and_password_revealed_only_on_the_wire(
    client: ExmailClient, fake: Any,
) -> None:
    request = UserCreate(
        userid="bob@example.com", name="Bob", department=[1, BIG_ID], position="Engineer", mobile="13800000000",
        gender=Gender.MALE, slaves=["b@example.com"], password=SecretStr("Passw0rdX"), cpwd_login=1,
    )  # fmt: skip
    await client.user_create(request)
    assert fake.method("user/create") == "POST"
    assert fake.body("user/create") == {
        "userid": "bob@example.com", "name": "Bob", "department": [1, BIG_ID], "position": "Engineer",
        "mobile": "13800000000", "gender": "1", "slaves": ["b@example.com"], "password": "Passw0rdX",
        "cpwd_login": 1,
    }  # fmt: skip
    assert "Passw0rdX" not in repr(request)


async def test_user_update_posts_userid_and_only_the_given_fields(client: ExmailClient, fake: Any) -> None:
    await client.user_update(UserUpdate(userid="bob@example.com", enable=0, gender=Gender.FEMALE))
    assert fake.method("user/update") == "POST"
    assert fake.body("user/update") == {"userid": "bob@example.com", "gender": "2", "enable": 0}


async def test_user_delete_is_get_with_userid_query(client: ExmailClient, fake: Any) -> None:
    await client.user_delete("bob@example.com")
    assert fake.method("user/delete") == "GET"
    assert fake.params("user/delete") == {"userid": "bob@example.com"}


async def test_user_get_is_get_with_userid_and_parses_the_member(client: ExmailClient, fake: Any) -> None:
    fake.on("user/get", {
        "errcode": 0, "errmsg": "ok", "userid": "alice@example.com", "name": "Alice", "department": [1, BIG_ID],
        "position": "Engineer", "mobile": "13800000000", "tel": "", "extid": "E001", "gender": "2", "enable": 1,
        "slaves": ["a.l@example.com"], "cpwd_login": 0,
    })  # fmt: skip
    user = await client.user_get("alice@example.com")
    assert fake.method("user/get") == "GET"
    assert fake.params("user/get") == {"userid": "alice@example.com"}
    assert user.userid == "alice@example.com" and user.department == [1, BIG_ID]
    assert user.gender is Gender.FEMALE and user.enable == 1 and user.slaves == ["a.l@example.com"]


async def test_user_simplelist_is_get_with_department_id_and_fetch_child(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("user/simplelist", {"errcode": 0, "errmsg": "ok", "userlist": [
        {"userid": "a@example.com", "name": "A", "department": [BIG_ID]}]})  # fmt: skip
    users = await client.user_simplelist(BIG_ID, fetch_child=True)
    assert fake.method("user/simplelist") == "GET"
    assert fake.params("user/simplelist") == {"department_id": str(BIG_ID), "fetch_child": "1"}
    assert [(u.userid, u.department) for u in users] == [("a@example.com", [BIG_ID])]


async def test_user_list_is_get_with_department_id_and_parses_full_members(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("user/list", {"errcode": 0, "errmsg": "ok", "userlist": [
        {"userid": "a@example.com", "name": "A", "department": [1], "enable": "1", "gender": 1}]})  # fmt: skip
    users = await client.user_list(1)
    assert fake.method("user/list") == "GET"
    assert fake.params("user/list") == {"department_id": "1", "fetch_child": "0"}
    assert users[0].enable == 1 and users[0].gender is Gender.MALE


async def test_user_batchcheck_posts_userlist_and_parses_account_types(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("user/batchcheck", {"errcode": 0, "errmsg": "ok", "list": [
        {"user": "a@x.com", "type": 1}, {"user": "g@x.com", "type": 3}, {"user": "bad", "type": -1}]})  # fmt: skip
    checks = await client.user_batchcheck(["a@x.com", "g@x.com", "bad"])
    assert fake.method("user/batchcheck") == "POST"
    assert fake.body("user/batchcheck") == {"userlist": ["a@x.com", "g@x.com", "bad"]}
    assert [c.type for c in checks] == [AccountType.PRIMARY, AccountType.GROUP, AccountType.INVALID]


async def test_user_batchcheck_splits_more_than_20_accounts_into_calls_of_20_in_order(
    client: ExmailClient, fake: Any,
) -> None:
    accounts = [f"u{i}@x.com" for i in range(45)]

    def answer(request: httpx.Request) -> httpx.Response:
        users = orjson.loads(request.content)["userlist"]
        return httpx.Response(200, content=orjson.dumps(
            {"errcode": 0, "list": [{"user": u, "type": 0} for u in users]}))  # fmt: skip

    fake.always_answer("user/batchcheck", answer)
    checks = await client.user_batchcheck(accounts)
    sizes = [len(orjson.loads(r.content)["userlist"]) for r in fake.calls("user/batchcheck")]
    assert sizes == [20, 20, 5]
    assert [c.user for c in checks] == accounts


# ---------------------------------------------------------------- groups


async def test_group_create_posts_members_and_allow_type(client: ExmailClient, fake: Any) -> None:
    await client.group_create(GroupCreate(
        groupid="team@example.com", groupname="Team", userlist=["a@example.com"], department=[BIG_ID],
        allow_type=AllowType.SPECIFIED_MEMBERS, allow_userlist=["boss@example.com"]))  # fmt: skip
    assert fake.method("group/create") == "POST"
    assert fake.body("group/create") == {
        "groupid": "team@example.com", "groupname": "Team", "userlist": ["a@example.com"],
        "department": [BIG_ID], "allow_type": 3, "allow_userlist": ["boss@example.com"],
    }  # fmt: skip


def test_group_create_without_any_member_source_is_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="at least one of userlist"):
        GroupCreate(groupid="team@example.com", groupname="Team", allow_type=AllowType.ANYONE)


async def test_group_update_posts_groupid_and_only_the_given_fields(client: ExmailClient, fake: Any) -> None:
    fake.on("group/update", {"errcode": 0, "errmsg": "updated", "invalid_userlist": ["ghost@example.com"]})
    result = await client.group_update(GroupUpdate(groupid="team@example.com", userlist=["ghost@example.com"]))
    assert fake.method("group/update") == "POST"
    assert fake.body("group/update") == {"groupid": "team@example.com", "userlist": ["ghost@example.com"]}
    assert result.invalid_userlist == ["ghost@example.com"]


async def test_group_delete_is_get_with_groupid_query(client: ExmailClient, fake: Any) -> None:
    await client.group_delete("team@example.com")
    assert fake.method("group/delete") == "GET"
    assert fake.params("group/delete") == {"groupid": "team@example.com"}


async def test_group_get_is_get_with_groupid_and_parses_the_group(client: ExmailClient, fake: Any) -> None:
    fake.on("group/get", {"errcode": 0, "errmsg": "ok", "groupid": "team@example.com", "groupname": "Team",
                          "userlist": ["a@example.com"], "grouplist": [], "department": [BIG_ID],
                          "allow_type": 2, "allow_userlist": []})  # fmt: skip
    group = await client.group_get("team@example.com")
    assert fake.method("group/get") == "GET"
    assert fake.params("group/get") == {"groupid": "team@example.com"}
    assert group.allow_type is AllowType.GROUP_MEMBERS and group.department == [BIG_ID]


# ---------------------------------------------------------------- tags


async def test_tag_create_posts_tagname_and_optional_tagid_and_returns_tagid(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("tag/create", {"errcode": 0, "errmsg": "created", "tagid": 12})
    assert await client.tag_create("VIP") == 12
    assert fake.method("tag/create") == "POST"
    assert fake.body("tag/create") == {"tagname": "VIP"}
    fake.on("tag/create", {"errcode": 0, "errmsg": "created", "tagid": 30})
    await client.tag_create("Ops", tagid=30)
    assert fake.body("tag/create") == {"tagname": "Ops", "tagid": 30}


async def test_tag_update_posts_tagid_and_tagname(client: ExmailClient, fake: Any) -> None:
    await client.tag_update(12, "VIP2")
    assert fake.method("tag/update") == "POST"
    assert fake.body("tag/update") == {"tagid": 12, "tagname": "VIP2"}


async def test_tag_delete_is_get_with_tagid_query(client: ExmailClient, fake: Any) -> None:
    await client.tag_delete(12)
    assert fake.method("tag/delete") == "GET"
    assert fake.params("tag/delete") == {"tagid": "12"}


async def test_tag_get_is_get_with_tagid_and_parses_members_and_parties(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("tag/get", {"errcode": 0, "errmsg": "ok", "tagname": "VIP",
                        "userlist": [{"userid": "a@example.com", "name": "A"}], "partylist": [BIG_ID]})  # fmt: skip
    detail = await client.tag_get(12)
    assert fake.method("tag/get") == "GET"
    assert fake.params("tag/get") == {"tagid": "12"}
    assert detail.userlist[0].userid == "a@example.com" and detail.partylist == [BIG_ID]


async def test_tag_addtagusers_posts_members_and_splits_invalidlist_on_pipes(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("tag/addtagusers", {"errcode": 0, "errmsg": "ok", "invalidlist": "x@example.com|y@example.com",
                                "invalidparty": [BIG_ID]})  # fmt: skip
    result = await client.tag_add_users(12, ["a@example.com", "x@example.com"], [BIG_ID])
    assert fake.method("tag/addtagusers") == "POST"
    assert fake.body("tag/addtagusers") == {"tagid": 12, "userlist": ["a@example.com", "x@example.com"],
                                            "partylist": [BIG_ID]}  # fmt: skip
    assert result.invalidlist == ["x@example.com", "y@example.com"] and result.invalidparty == [BIG_ID]


async def test_tag_deltagusers_posts_members(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/deltagusers", {"errcode": 0, "errmsg": "deleted"})
    result = await client.tag_delete_users(12, userlist=["a@example.com"])
    assert fake.method("tag/deltagusers") == "POST"
    assert fake.body("tag/deltagusers") == {"tagid": 12, "userlist": ["a@example.com"]}
    assert result.invalidlist == [] and result.invalidparty == []


async def test_tag_member_changes_with_no_members_are_refused_before_sending(
    client: ExmailClient, fake: Any,
) -> None:
    with pytest.raises(ValueError, match="must not both be empty"):
        await client.tag_add_users(12)
    assert fake.requests == []


async def test_tag_list_is_get_and_parses_tags(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", {"errcode": 0, "errmsg": "ok", "taglist": [{"tagid": 1, "tagname": "VIP"}]})
    tags = await client.tag_list()
    assert fake.method("tag/list") == "GET"
    assert fake.params("tag/list") == {}
    assert [(t.tagid, t.tagname) for t in tags] == [(1, "VIP")]


# ---------------------------------------------------------------- useroption


async def test_useroption_get_posts_userid_and_types_with_function_setting_token(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("useroption/get", {"errcode": 0, "errmsg": "ok", "option": [
        {"type": 1, "value": "0"}, {"type": 2, "value": "1"}]})  # fmt: skip
    options = await client.useroption_get("a@example.com", [UserOptionType.FORCE_SECURE_LOGIN,
                                                            UserOptionType.IMAP_SMTP])  # fmt: skip
    assert fake.method("useroption/get") == "POST"
    assert fake.body("useroption/get") == {"userid": "a@example.com", "type": [1, 2]}
    assert _token_app(fake, "useroption/get") is App.FUNCTION_SETTING
    assert [(o.type, o.value) for o in options] == [(UserOptionType.FORCE_SECURE_LOGIN, "0"),
                                                    (UserOptionType.IMAP_SMTP, "1")]  # fmt: skip


async def test_useroption_get_asks_for_all_four_types_by_default(client: ExmailClient, fake: Any) -> None:
    await client.useroption_get("a@example.com")
    assert fake.body("useroption/get")["type"] == [1, 2, 3, 4]


async def test_useroption_update_posts_option_list_with_string_values(
    client: ExmailClient, fake: Any,
) -> None:
    await client.useroption_update("a@example.com", {UserOptionType.IMAP_SMTP: "0", UserOptionType.POP_SMTP: "1"})
    assert fake.method("useroption/update") == "POST"
    assert fake.body("useroption/update") == {"userid": "a@example.com",
                                              "option": [{"type": 2, "value": "0"}, {"type": 3, "value": "1"}]}


def test_useroption_update_type_4_is_read_only_and_refused_before_sending() -> None:
    with pytest.raises(ValueError, match="read-only"):
        UserOptionSetting(type=UserOptionType.SECURE_LOGIN_ENABLED, value="1")


# ---------------------------------------------------------------- new mail, SSO


async def test_mail_newcount_is_get_with_userid_only_by_default_and_mail_notice_token(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("mail/newcount", {"errcode": 0, "errmsg": "ok", "count": 3})
    result = await client.mail_newcount("a@example.com")
    assert fake.method("mail/newcount") == "GET"
    assert fake.params("mail/newcount") == {"userid": "a@example.com"}
    assert _token_app(fake, "mail/newcount") is App.MAIL_NOTICE
    assert result.count == 3


async def test_mail_newcount_sends_begin_and_end_date_when_given(client: ExmailClient, fake: Any) -> None:
    fake.on("mail/newcount", {"errcode": 0, "errmsg": "ok", "count": 0})
    await client.mail_newcount("a@example.com", date(2024, 5, 1), "2024-05-02")
    assert fake.params("mail/newcount") == {"userid": "a@example.com", "begin_date": "2024-05-01",
                                            "end_date": "2024-05-02"}  # fmt: skip


async def test_service_get_login_url_is_get_with_userid_and_sso_token(
    client: ExmailClient, fake: Any,
) -> None:
    url = "https://exmail.qq.com/cgi-bin/login?fun=bizopenssologin&method=openapi&userid=a@example.com&authkey=K1"
    fake.on("service/get_login_url", {"errcode": 0, "errmsg": "ok", "login_url": url, "expires_in": 300})
    result = await client.get_login_url("a@example.com")
    assert fake.method("service/get_login_url") == "GET"
    assert fake.params("service/get_login_url") == {"userid": "a@example.com"}
    assert _token_app(fake, "service/get_login_url") is App.SSO
    assert result.login_url.get_secret_value() == url and result.expires_in == 300
    assert "authkey" not in repr(result)


# ---------------------------------------------------------------- system log


async def test_log_mailstatus_posts_domain_and_dates_and_parses_sums(client: ExmailClient, fake: Any) -> None:
    fake.on("log/mailstatus", {"errcode": 0, "errmsg": "ok", "sendsum": 10, "recvsum": 20})
    summary = await client.log_mailstatus("example.com", "2024-05-01", "2024-05-03")
    assert fake.method("log/mailstatus") == "POST"
    assert fake.body("log/mailstatus") == {"domain": "example.com", "begin_date": "2024-05-01",
                                           "end_date": "2024-05-03"}  # fmt: skip
    assert _token_app(fake, "log/mailstatus") is App.SYSTEM_LOG
    assert (summary.sendsum, summary.recvsum) == (10, 20)


async def test_log_mail_posts_dates_mailtype_and_filters_and_parses_records(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("log/mail", {"errcode": 0, "errmsg": "ok", "list": [
        {"mailtype": 1, "sender": "a@example.com", "receiver": "z@partner.com", "subject": "Hi",
         "time": 1714521600, "status": 3}]})  # fmt: skip
    records = await client.log_mail("2024-05-01", "2024-05-01", mailtype=MailType.SENT, userid="a@example.com",
                                    subject="Hi")  # fmt: skip
    assert fake.method("log/mail") == "POST"
    assert fake.body("log/mail") == {"begin_date": "2024-05-01", "end_date": "2024-05-01", "mailtype": 1,
                                     "userid": "a@example.com", "subject": "Hi"}  # fmt: skip
    assert records[0].status is MailStatus.SENT and records[0].mailtype is MailType.SENT


async def test_log_mail_defaults_to_mailtype_0_sent_and_received(client: ExmailClient, fake: Any) -> None:
    await client.log_mail("2024-05-01", "2024-05-01")
    assert fake.body("log/mail") == {"begin_date": "2024-05-01", "end_date": "2024-05-01", "mailtype": 0}


async def test_log_login_posts_userid_and_dates_and_parses_records(client: ExmailClient, fake: Any) -> None:
    fake.on("log/login", {"errcode": 0, "errmsg": "ok", "list": [{"time": 1714521600, "ip": "10.0.0.1", "type": 4}]})
    records = await client.log_login("a@example.com", "2024-05-01", "2024-05-02")
    assert fake.method("log/login") == "POST"
    assert fake.body("log/login") == {"userid": "a@example.com", "begin_date": "2024-05-01",
                                      "end_date": "2024-05-02"}  # fmt: skip
    assert records[0].type is LoginType.DESKTOP_CLIENT and records[0].ip == "10.0.0.1"


async def test_log_batchjob_posts_dates_and_parses_records(client: ExmailClient, fake: Any) -> None:
    fake.on("log/batchjob", {"errcode": 0, "errmsg": "ok", "list": [
        {"time": 1714521600, "operator": "admin@example.com", "type": 2, "status": 1}]})  # fmt: skip
    records = await client.log_batchjob("2024-05-01", "2024-05-01")
    assert fake.method("log/batchjob") == "POST"
    assert fake.body("log/batchjob") == {"begin_date": "2024-05-01", "end_date": "2024-05-01"}
    assert records[0].operator == "admin@example.com" and records[0].status == 1


async def test_log_operation_posts_category_and_dates_and_parses_records(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("log/operation", {"errcode": 0, "errmsg": "ok", "list": [
        {"time": 1714521600, "operator": "admin@example.com", "type": 20, "operand": "bob@example.com",
         "remark": "1"}]})  # fmt: skip
    records = await client.log_operation("2024-05-01", "2024-05-01", category=OperationCategory.MEMBERS_AND_GROUPS)
    assert fake.method("log/operation") == "POST"
    assert fake.body("log/operation") == {"type": 8, "begin_date": "2024-05-01", "end_date": "2024-05-01"}
    assert records[0].type is OperationType.DELETE_USER and records[0].remark == "1"


async def test_log_operation_defaults_to_category_1_all(client: ExmailClient, fake: Any) -> None:
    await client.log_operation("2024-05-01", "2024-05-01")
    assert fake.body("log/operation")["type"] == 1


async def test_log_records_keep_the_raw_api_record(client: ExmailClient, fake: Any) -> None:
    raw = {"time": 1714521600, "ip": "10.0.0.1", "type": 4, "extra": "kept"}
    fake.on("log/login", {"errcode": 0, "errmsg": "ok", "list": [raw]})
    records = await client.log_login("a@example.com", "2024-05-01", "2024-05-01")
    assert records[0].raw == raw


async def test_log_query_with_end_before_begin_is_refused_before_sending(
    client: ExmailClient, fake: Any,
) -> None:
    with pytest.raises(ValueError, match="before begin_date"):
        await client.log_batchjob("2024-05-02", "2024-05-01")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        await client.log_batchjob("2024/05/01", "2024-05-01")
    assert fake.requests == []
