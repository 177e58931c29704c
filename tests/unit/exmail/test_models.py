"""Models: enums as documented, int64 ids kept exact, tolerated type quirks, request wire format, and
property tests that the response parsers never fail with anything but a clear ExmailError/ValueError."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from pipeline.exmail import ExmailClient, ExmailError, ResponseFormatError
from pipeline.exmail import _parse as parse
from pipeline.exmail.models import (
    AccessToken,
    AccountType,
    AllowType,
    BatchJobType,
    Department,
    DepartmentCreate,
    DepartmentUpdate,
    Gender,
    Group,
    LoginLogRecord,
    LoginType,
    LoginUrl,
    MailLogRecord,
    MailStatus,
    MailStatusSummary,
    MailType,
    NewCount,
    OperationCategory,
    OperationLogRecord,
    OperationType,
    TagDetail,
    TagMembersResult,
    User,
    UserCreate,
    UserOptionType,
    UserUpdate,
)

INT64_IDS = [4913577855806636138, 2**63 - 1]


# ---------------------------------------------------------------- enums match the reference


def test_mail_status_enum_is_0_to_4_and_11_to_14() -> None:
    assert [int(s) for s in MailStatus] == [0, 1, 2, 3, 4, 11, 12, 13, 14]


def test_mail_type_enum_is_0_all_1_sent_2_received() -> None:
    assert [(m.name, int(m)) for m in MailType] == [("ALL", 0), ("SENT", 1), ("RECEIVED", 2)]


def test_login_type_enum_is_1_to_5() -> None:
    assert [int(t) for t in LoginType] == [1, 2, 3, 4, 5] and LoginType(4) is LoginType.DESKTOP_CLIENT


def test_operation_type_enum_is_1_to_41() -> None:
    assert [int(t) for t in OperationType] == list(range(1, 42))
    assert OperationType(20) is OperationType.DELETE_USER and OperationType(39) is OperationType.ENABLE_API


def test_operation_category_enum_is_1_to_10_and_refuses_0() -> None:
    assert [int(c) for c in OperationCategory] == list(range(1, 11))
    with pytest.raises(ValueError):
        OperationCategory(0)


def test_batchjob_type_enum_is_0_to_9() -> None:
    assert [int(t) for t in BatchJobType] == list(range(10))


def test_useroption_type_enum_is_1_to_4() -> None:
    assert [int(t) for t in UserOptionType] == [1, 2, 3, 4]


def test_batchcheck_account_type_enum_is_minus_1_to_3() -> None:
    assert [int(t) for t in AccountType] == [-1, 0, 1, 2, 3]


def test_gender_and_allow_type_enums() -> None:
    assert [int(g) for g in Gender] == [0, 1, 2]
    assert [int(a) for a in AllowType] == [0, 1, 2, 3]


# ---------------------------------------------------------------- int64


@pytest.mark.parametrize("big_id", INT64_IDS)
async def test_int64_department_id_survives_create_update_list_round_trip_exactly(
    client: ExmailClient, fake: Any, big_id: int,
) -> None:
    fake.on("department/create", lambda r: httpx.Response(200, content=b'{"errcode":0,"errmsg":"created","id":'
                                                          + str(big_id).encode() + b"}"))  # fmt: skip
    created = await client.department_create(DepartmentCreate(name="R&D", parentid=1))
    assert created == big_id
    await client.department_update(DepartmentUpdate(id=created, parentid=created))
    raw_body = fake.last("department/update").content
    assert str(big_id).encode() in raw_body
    assert orjson.loads(raw_body) == {"id": big_id, "parentid": big_id}
    fake.on("department/list", lambda r: httpx.Response(200, content=b'{"errcode":0,"department":[{"id":'
                                                        + str(big_id).encode() + b',"name":"x","parentid":'
                                                        + str(big_id).encode() + b"}]}"))  # fmt: skip
    listed = await client.department_list(created)
    assert fake.params("department/list") == {"id": str(big_id)}
    assert listed[0].id == big_id and listed[0].parentid == big_id


@pytest.mark.parametrize("big_id", INT64_IDS)
def test_int64_ids_in_member_group_and_tag_lists_are_exact(big_id: int) -> None:
    assert User.model_validate({"userid": "a@x.com", "department": [big_id]}).department == [big_id]
    assert Group.model_validate({"groupid": "g@x.com", "department": [big_id]}).department == [big_id]
    assert TagDetail.model_validate({"partylist": [big_id]}).partylist == [big_id]
    assert Department.model_validate({"id": str(big_id)}).id == big_id


def test_department_id_that_arrived_as_a_float_is_refused_not_rounded() -> None:
    with pytest.raises(ValueError, match="expected an integer"):
        Department.model_validate({"id": 4.913577855806636e18})


def test_id_beyond_64_bits_is_refused() -> None:
    with pytest.raises(ValueError, match="64-bit"):
        Department.model_validate({"id": str(2**64)})


# ---------------------------------------------------------------- tolerated quirks


@pytest.mark.parametrize("enable", ["1", 1])
def test_user_enable_accepts_string_or_number(enable: object) -> None:
    assert User.model_validate({"userid": "a@x.com", "enable": enable}).enable == 1


@pytest.mark.parametrize(("gender", "expected"), [("1", Gender.MALE), (1, Gender.MALE), ("2", Gender.FEMALE),
                                                  ("0", Gender.UNDEFINED), ("", Gender.UNDEFINED)])  # fmt: skip
def test_user_gender_accepts_string_or_number(gender: object, expected: Gender) -> None:
    assert User.model_validate({"userid": "a@x.com", "gender": gender}).gender is expected


def test_user_nulls_and_numbers_in_text_fields_are_tolerated() -> None:
    user = User.model_validate({"userid": "a@x.com", "mobile": 13800000000, "tel": None, "slaves": None,
                                "department": None})  # fmt: skip
    assert (user.mobile, user.tel, user.slaves, user.department) == ("13800000000", "", [], [])


def test_unknown_enum_value_is_kept_as_a_plain_int_not_dropped() -> None:
    record = MailLogRecord.model_validate({"mailtype": 2, "time": 1, "status": 15})
    assert record.status == 15 and not isinstance(record.status, MailStatus)
    assert record.mailtype is MailType.RECEIVED


def test_unknown_response_fields_are_kept() -> None:
    user = User.model_validate({"userid": "a@x.com", "setvip": 1})
    assert user.model_extra == {"setvip": 1}


def test_tag_invalidlist_accepts_a_pipe_joined_string_or_a_list() -> None:
    assert TagMembersResult.model_validate({"invalidlist": "a|b"}).invalidlist == ["a", "b"]
    assert TagMembersResult.model_validate({"invalidlist": ["a"]}).invalidlist == ["a"]
    assert TagMembersResult.model_validate({"invalidlist": ""}).invalidlist == []


def test_boolean_is_not_accepted_as_an_integer() -> None:
    with pytest.raises(ValueError):
        NewCount.model_validate({"count": True})


# ---------------------------------------------------------------- request wire format


def test_user_update_sends_gender_as_a_string_and_leaves_out_unset_fields() -> None:
    assert UserUpdate(userid="a@x.com", gender=Gender.MALE).wire() == {"userid": "a@x.com", "gender": "1"}


def test_user_create_refuses_unknown_fields_and_more_than_5_slaves_or_20_departments() -> None:
    with pytest.raises(ValueError):
        UserCreate(userid="a@x.com", name="A", department=[1], nickname="x")  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        UserCreate(userid="a@x.com", name="A", department=[1], slaves=[f"s{i}@x.com" for i in range(6)])
    with pytest.raises(ValueError):
        UserCreate(userid="a@x.com", name="A", department=list(range(21)))


def test_passwords_stay_out_of_request_reprs() -> None:
    request = UserUpdate(userid="a@x.com", password=SecretStr("Sup3rSecret"))
    assert "Sup3rSecret" not in repr(request) and "Sup3rSecret" not in str(request)
    assert request.wire()["password"] == "Sup3rSecret"


def test_token_and_login_url_models_mask_their_secret_in_reprs() -> None:
    token = AccessToken.model_validate({"access_token": "TOK123secret", "expires_in": 7200})
    url = LoginUrl.model_validate({"login_url": "https://exmail.qq.com/cgi-bin/login?authkey=AK999"})
    assert "TOK123secret" not in repr(token) and "AK999" not in repr(url)


# ---------------------------------------------------------------- property tests of the parsers

_FIELD_NAMES = ["errcode", "errmsg", "list", "department", "userlist", "taglist", "option", "id", "name",
                "parentid", "order", "path", "userid", "type", "time", "status", "mailtype", "sender", "ip",
                "operator", "operand", "remark", "gender", "enable", "slaves", "count", "sendsum", "recvsum",
                "access_token", "expires_in", "login_url", "tagid", "tagname", "partylist", "invalidlist",
                "groupid", "allow_type", "value", "user"]  # fmt: skip

_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["0", "1", "-1", "", "4913577855806636138", "a|b", "1.5", " 7 "])
)
_json_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.sampled_from(_FIELD_NAMES) | st.text(max_size=6), children, max_size=6),
    max_leaves=25,
)
_answers = st.dictionaries(st.sampled_from(_FIELD_NAMES), _json_values, max_size=8) | _json_values

_PARSERS = [
    ("gettoken", AccessToken), ("department/create", parse.DepartmentCreated),
    ("department/list", parse.DepartmentList), ("department/search", parse.DepartmentSearch),
    ("user/get", User), ("user/list", parse.UserList), ("user/simplelist", parse.UserSimpleList),
    ("user/batchcheck", parse.BatchCheck), ("group/get", Group), ("tag/create", parse.TagCreated),
    ("tag/get", TagDetail), ("tag/list", parse.TagList), ("tag/addtagusers", TagMembersResult),
    ("useroption/get", parse.UserOptions), ("mail/newcount", NewCount), ("log/mailstatus", MailStatusSummary),
    ("log/mail", parse.MailLog), ("log/login", parse.LoginLog), ("log/batchjob", parse.BatchJobLog),
    ("log/operation", parse.OperationLog), ("service/get_login_url", LoginUrl),
]  # fmt: skip


def _parse_body(path: str, model: type, body: bytes) -> object:
    return parse.parse_model(model, parse.decode_payload(body, path), path)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=_answers, parser=st.sampled_from(_PARSERS))
def test_response_parsers_give_a_model_or_a_clear_error_for_any_json(
    answer: Any, parser: tuple[str, type[Any]],
) -> None:
    path, model = parser
    body = json.dumps(answer).encode()
    try:
        result = _parse_body(path, model, body)
    except ExmailError as error:
        assert error.endpoint == path and str(error).startswith(path)
    except ValueError as error:  # pragma: no cover - every ValueError from the parser is an ExmailError
        raise AssertionError(f"bare ValueError escaped: {error!r}") from error
    else:
        assert isinstance(result, model)


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=64), parser=st.sampled_from(_PARSERS))
def test_response_parsers_give_a_model_or_a_clear_error_for_any_bytes(
    body: bytes, parser: tuple[str, type[Any]],
) -> None:
    path, model = parser
    try:
        _parse_body(path, model, body)
    except ExmailError as error:
        assert error.endpoint == path


@settings(max_examples=200, deadline=None)
@given(
    records=st.lists(
        st.fixed_dictionaries({
            "time": st.integers(0, 2**40) | st.integers(0, 2**40).map(str),
            "ip": st.ip_addresses().map(str),
            "type": st.sampled_from([1, 2, 3, 4, 5, "1", "5", 6, 99]),
        }),
        max_size=5,
    )
)  # fmt: skip
def test_valid_login_log_answers_parse_and_keep_every_record_and_its_raw_form(
    records: list[dict[str, Any]],
) -> None:
    body = orjson.dumps({"errcode": 0, "errmsg": "ok", "list": records})
    parsed = _parse_body("log/login", parse.LoginLog, body).records  # type: ignore[attr-defined]
    assert [r.raw for r in parsed] == records
    assert [r.time for r in parsed] == [int(r["time"]) for r in records]
    assert all(isinstance(r, LoginLogRecord) for r in parsed)
    assert [int(r.type) for r in parsed] == [int(r["type"]) for r in records]


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.integers(min_value=-(2**63), max_value=2**63 - 1), min_size=1, max_size=5))
def test_any_int64_department_id_round_trips_through_orjson_and_the_models(ids: list[int]) -> None:
    body = orjson.dumps({"errcode": 0, "department": [{"id": i, "parentid": i} for i in ids]})
    parsed = _parse_body("department/list", parse.DepartmentList, body).department  # type: ignore[attr-defined]
    assert [d.id for d in parsed] == ids
    assert orjson.loads(orjson.dumps(DepartmentUpdate(id=ids[0]).wire())) == {"id": ids[0]}


def test_operation_record_remark_is_optional() -> None:
    record = OperationLogRecord.model_validate({"time": 1, "operator": "a", "type": 19, "operand": "b"})
    assert record.remark is None and record.type is OperationType.ADD_USER


def test_response_format_error_does_not_echo_the_invalid_value() -> None:
    with pytest.raises(ResponseFormatError) as info:
        parse.parse_model(AccessToken, {"access_token": "", "expires_in": "SECRETVALUE"}, "gettoken")
    assert "SECRETVALUE" not in str(info.value)
