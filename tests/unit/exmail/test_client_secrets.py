"""Secret hygiene: corp secrets and access tokens never appear in reprs, exception text, tracebacks or logs."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import httpx
import pytest

from pipeline.exmail import App, AuthError, ExmailClient, ExmailError, NotFound, TransportError


def _live_values(fake: Any) -> list[str]:
    return [*fake.secrets.values(), *fake.tokens]


def _assert_clean(text: str, fake: Any) -> None:
    for value in _live_values(fake):
        assert value not in text
    assert "kkkkkkkkkk" not in text  # the tail every fake token shares


async def test_client_and_settings_reprs_hold_no_secret_or_token(client: ExmailClient, fake: Any) -> None:
    await client.tag_list()
    await client.fetch_token(App.SSO)
    texts = [repr(client), str(client), repr(client.settings), str(client.settings),
             client.settings.model_dump_json(), repr(client._tokens)]  # fmt: skip
    for text in texts:
        _assert_clean(text, fake)


async def test_failing_call_logs_at_debug_mask_the_access_token_query_parameter(
    client: ExmailClient, fake: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.on("user/get", {"errcode": 60111, "errmsg": "userid not found"})
    with pytest.raises(NotFound) as info:
        await client.user_get("ghost@example.com")
    _assert_clean(caplog.text, fake)
    _assert_clean(str(info.value) + repr(info.value), fake)
    assert "access_token=***" in caplog.text
    assert "corpsecret=***" in caplog.text


async def test_httpx_request_log_lines_are_masked_too(
    client: ExmailClient, fake: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    await client.tag_list()
    httpx_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert httpx_lines, "httpx logs each request at INFO"
    assert all("access_token=***" in line or "corpsecret=***" in line for line in httpx_lines)
    _assert_clean(caplog.text, fake)


async def test_failing_gettoken_masks_the_corpsecret_in_logs_and_errors(
    client: ExmailClient, fake: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.always_answer("gettoken", {"errcode": 40001, "errmsg": "invalid credential"})
    with pytest.raises(AuthError) as info:
        await client.tag_list()
    _assert_clean(caplog.text + str(info.value) + repr(info.value), fake)


async def test_token_echoed_in_errmsg_is_masked_in_the_exception(client: ExmailClient, fake: Any) -> None:
    await client.tag_list()
    token = fake.last("tag/list").url.params["access_token"]
    fake.on("tag/list", {"errcode": 48002, "errmsg": f"api forbidden for token {token}"})
    with pytest.raises(ExmailError) as info:
        await client.tag_list()
    assert token not in str(info.value) and token not in repr(info.value)
    assert "***" in info.value.errmsg


async def test_secret_echoed_in_gettoken_errmsg_is_masked_in_the_exception(
    client: ExmailClient, fake: Any,
) -> None:
    secret = fake.secrets[App.CONTACT]
    fake.on("gettoken", {"errcode": 40001, "errmsg": f"invalid credential {secret}"})
    with pytest.raises(AuthError) as info:
        await client.tag_list()
    assert secret not in str(info.value) and secret not in repr(info.value.args)


async def test_transport_error_text_and_traceback_hold_no_token(client: ExmailClient, fake: Any) -> None:
    await client.tag_list()

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    fake.always_answer("tag/list", refuse)
    with pytest.raises(TransportError) as info:
        await client.tag_list()
    assert "access_token=***" in str(info.value)
    rendered = "".join(traceback.format_exception(info.value))
    _assert_clean(rendered + str(info.value) + repr(info.value), fake)


async def test_retry_warnings_hold_no_token(
    client: ExmailClient, fake: Any, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.on("log/batchjob", 503, {"errcode": -1, "errmsg": "system busy"})
    await client.log_batchjob("2024-05-01", "2024-05-01")
    assert "retry" in caplog.text
    _assert_clean(caplog.text, fake)


async def test_errors_carry_no_chained_exception_holding_the_url_or_the_body(client: ExmailClient, fake: Any) -> None:
    leaked_token = "TOKENLEAK" + "k" * 60
    fake.on("gettoken", lambda request: httpx.Response(200, content=b'{"access_token": "' + leaked_token.encode()))
    with pytest.raises(ExmailError) as bad_body:
        await client.tag_list()
    fake.always_answer("tag/list", _refuse_with_url)
    with pytest.raises(TransportError) as refused:
        await client.tag_list()
    for error in (bad_body.value, refused.value):
        assert error.__cause__ is None and error.__context__ is None
    assert leaked_token not in str(bad_body.value)


def _refuse_with_url(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError(f"cannot reach {request.url}")
