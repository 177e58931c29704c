"""errcode -> exception class conformance (reference §3), error messages, and malformed answers."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pipeline.exmail import (
    ERRCODES,
    AuthError,
    ExmailClient,
    ExmailError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ResponseFormatError,
    ServerBusy,
    TransportError,
    ValidationError,
    error_for,
)
from pipeline.exmail.models import DepartmentCreate, UserCreate

# Every code of reference §3 (plus 42001, handled defensively).
REFERENCE_CODES = {
    -1, 40001, 40003, 40013, 40014, 40057, 40091, 45009, 45024,
    60001, 60002, 60003, 60004, 60005, 60006, 60007, 60008, 60009, 60010,
    60102, 60103, 60111, 60112, 60114, 60123, 60124, 60125, 60126, 60127,
    *range(600001, 600022), *range(600023, 600028),
    601001, 601002, 601003, 601004, 602005, 40070, 40031, 42001,
}  # fmt: skip

EXPECTED_CLASS = {
    **{code: AuthError for code in (40001, 40013, 40014, 40091, 42001, 45024)},
    602005: PermissionDenied,
    45009: RateLimited,
    **{code: NotFound for code in (60111, 60003, 600008, 60004)},
    -1: ServerBusy,
}


def test_every_reference_errcode_is_in_the_table() -> None:
    assert set(ERRCODES) == REFERENCE_CODES


@pytest.mark.parametrize("errcode", sorted(REFERENCE_CODES))
def test_errcode_maps_to_its_exception_class(errcode: int) -> None:
    expected = EXPECTED_CLASS.get(errcode, ValidationError)
    error = error_for(errcode, "msg", "user/get")
    assert type(error) is expected
    assert error.errcode == errcode and error.endpoint == "user/get"


def test_unknown_errcode_maps_to_the_base_exmail_error() -> None:
    error = error_for(48002, "api forbidden", "user/get")
    assert type(error) is ExmailError and error.errcode == 48002


def test_validation_codes_are_not_retryable_and_busy_and_rate_limit_are() -> None:
    assert not ValidationError(60102).retryable and not NotFound(60111).retryable
    assert ServerBusy(-1).retryable and RateLimited(45009).retryable


def test_error_message_names_endpoint_errcode_meaning_and_errmsg() -> None:
    error = error_for(60111, "userid not found", "user/get")
    assert str(error) == "user/get: errcode 60111 (UserID does not exist): userid not found"


def test_exceptions_survive_pickling_with_their_fields() -> None:
    for error in (error_for(60111, "userid not found", "user/get"),
                  TransportError(None, "HTTP 503", "log/mail", status_code=503, reason="http_503")):  # fmt: skip
        clone = pickle.loads(pickle.dumps(error))
        assert type(clone) is type(error) and str(clone) == str(error)
        assert clone.__dict__ == error.__dict__


async def test_user_get_unknown_userid_raises_not_found_60111(client: ExmailClient, fake: Any) -> None:
    fake.on("user/get", {"errcode": 60111, "errmsg": "userid not found"})
    with pytest.raises(NotFound) as info:
        await client.user_get("ghost@example.com")
    assert (info.value.errcode, info.value.errmsg, info.value.endpoint) == (60111, "userid not found", "user/get")


async def test_department_delete_unknown_department_raises_not_found_60003(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("department/delete", {"errcode": 60003, "errmsg": "department not found"})
    with pytest.raises(NotFound):
        await client.department_delete(42)


async def test_department_create_missing_parent_raises_not_found_60004(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("department/create", {"errcode": 60004, "errmsg": "parent department not found"})
    with pytest.raises(NotFound):
        await client.department_create(DepartmentCreate(name="X", parentid=42))


async def test_group_get_unknown_group_raises_not_found_600008(client: ExmailClient, fake: Any) -> None:
    fake.on("group/get", {"errcode": 600008, "errmsg": "group not exist"})
    with pytest.raises(NotFound):
        await client.group_get("ghost@example.com")


async def test_department_delete_with_members_raises_validation_error_60005(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("department/delete", {"errcode": 60005, "errmsg": "department has members"})
    with pytest.raises(ValidationError):
        await client.department_delete(42)


async def test_user_create_existing_userid_raises_validation_error_60102_without_retry(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("user/create", {"errcode": 60102, "errmsg": "userid existed"})
    with pytest.raises(ValidationError) as info:
        await client.user_create(UserCreate(userid="a@example.com", name="A", department=[1]))
    assert info.value.errcode == 60102
    assert len(fake.calls("user/create")) == 1


async def test_user_batchcheck_too_many_raises_validation_error_600027(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("user/batchcheck", {"errcode": 600027, "errmsg": "too many"})
    with pytest.raises(ValidationError):
        await client.user_batchcheck(["a@example.com"])


async def test_tag_addtagusers_all_invalid_raises_validation_error_40070(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("tag/addtagusers", {"errcode": 40070, "errmsg": "all list invalid"})
    with pytest.raises(ValidationError, match="all list invalid"):
        await client.tag_add_users(1, ["ghost@example.com"])


async def test_tag_deltagusers_all_invalid_raises_validation_error_40031(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("tag/deltagusers", {"errcode": 40031, "errmsg": "all list invalid"})
    with pytest.raises(ValidationError):
        await client.tag_delete_users(1, ["ghost@example.com"])


async def test_log_query_invalid_date_raises_validation_error_601001(client: ExmailClient, fake: Any) -> None:
    fake.on("log/batchjob", {"errcode": 601001, "errmsg": "invalid time"})
    with pytest.raises(ValidationError):
        await client.log_batchjob("2024-05-01", "2024-05-01")


async def test_log_query_span_too_long_raises_validation_error_601002(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(log_span_days=91)
    fake.on("log/mail", {"errcode": 601002, "errmsg": "time span exceeds"})
    with pytest.raises(ValidationError) as info:
        await client.log_mail("2018-02-18", "2018-05-20")
    assert info.value.errcode == 601002


async def test_log_mailstatus_unknown_domain_raises_validation_error_601004(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("log/mailstatus", {"errcode": 601004, "errmsg": "domain not exist"})
    with pytest.raises(ValidationError):
        await client.log_mailstatus("nowhere.example", "2024-05-01", "2024-05-01")


async def test_wrong_app_token_raises_permission_denied_602005(client: ExmailClient, fake: Any) -> None:
    fake.on("mail/newcount", {"errcode": 602005, "errmsg": "no privilege to access this api"})
    with pytest.raises(PermissionDenied):
        await client.mail_newcount("a@example.com")
    assert len(fake.calls("mail/newcount")) == 1


async def test_invalid_corpid_raises_auth_error_40013(client: ExmailClient, fake: Any) -> None:
    fake.on("gettoken", {"errcode": 40013, "errmsg": "invalid corpid"})
    with pytest.raises(AuthError) as info:
        await client.tag_list()
    assert info.value.errcode == 40013


async def test_invalid_secret_raises_auth_error_40091(client: ExmailClient, fake: Any) -> None:
    fake.on("gettoken", {"errcode": 40091, "errmsg": "invalid secret"})
    with pytest.raises(AuthError):
        await client.tag_list()


async def test_enterprise_disabled_raises_auth_error_45024(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", {"errcode": 45024, "errmsg": "corp disabled"})
    with pytest.raises(AuthError):
        await client.tag_list()
    assert len(fake.calls("tag/list")) == 1


async def test_unknown_errcode_from_the_server_raises_exmail_error(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", {"errcode": 99999, "errmsg": "new"})
    with pytest.raises(ExmailError) as info:
        await client.tag_list()
    assert type(info.value) is ExmailError and info.value.errcode == 99999


async def test_errcode_sent_as_a_numeric_string_is_honoured(client: ExmailClient, fake: Any) -> None:
    fake.on("user/get", {"errcode": "60111", "errmsg": "userid not found"})
    with pytest.raises(NotFound):
        await client.user_get("ghost@example.com")


async def test_http_404_raises_a_non_retryable_transport_error(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", 404)
    with pytest.raises(TransportError) as info:
        await client.tag_list()
    assert info.value.status_code == 404 and not info.value.retryable
    assert len(fake.calls("tag/list")) == 1


async def test_non_json_body_raises_response_format_error(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", lambda request: httpx.Response(200, content=b"<html>maintenance</html>"))
    with pytest.raises(ResponseFormatError, match="not valid JSON"):
        await client.tag_list()


async def test_json_array_body_raises_response_format_error(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", lambda request: httpx.Response(200, content=b"[1, 2]"))
    with pytest.raises(ResponseFormatError, match="JSON list, not an object"):
        await client.tag_list()


async def test_malformed_record_raises_response_format_error_naming_the_field(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("log/login", {"errcode": 0, "errmsg": "ok", "list": [{"time": "yesterday", "ip": "1.2.3.4", "type": 1}]})
    with pytest.raises(ResponseFormatError, match=r"list\.0\.time"):
        await client.log_login("a@example.com", "2024-05-01", "2024-05-01")


async def test_response_format_error_is_also_a_value_error(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", lambda request: httpx.Response(200, content=b"nope"))
    with pytest.raises(ValueError):
        await client.tag_list()
