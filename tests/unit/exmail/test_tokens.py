"""access_token lifecycle: per-app cache, early refresh, single flight, refresh-and-retry-once on refusal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from pipeline import metrics
from pipeline.exmail import App, AppSecrets, AuthError, ExmailClient, ExmailError, UserOptionType


def _refreshes(app: App) -> float:
    return metrics.REGISTRY.get_sample_value(
        "exmail_token_refreshes_total", {"corp": "wm0123456789abcdef", "app": app.value}
    ) or 0.0


async def test_token_is_cached_and_reused_by_calls_of_the_same_app(client: ExmailClient, fake: Any) -> None:
    await client.user_delete("a@example.com")
    await client.group_delete("g@example.com")
    await client.tag_list()
    assert len(fake.calls("gettoken")) == 1


async def test_each_app_gets_its_own_token_with_its_own_secret(client: ExmailClient, fake: Any) -> None:
    await client.user_delete("a@example.com")
    await client.log_batchjob("2024-05-01", "2024-05-01")
    await client.useroption_update("a@example.com", {UserOptionType.IMAP_SMTP: "1"})
    secrets = [r.url.params["corpsecret"] for r in fake.calls("gettoken")]
    assert secrets == [fake.secrets[App.CONTACT], fake.secrets[App.SYSTEM_LOG], fake.secrets[App.FUNCTION_SETTING]]
    assert len({fake.last(p).url.params["access_token"] for p in ("user/delete", "log/batchjob")}) == 2


async def test_fifty_concurrent_calls_with_a_cold_cache_cause_exactly_one_gettoken(
    client: ExmailClient, fake: Any,
) -> None:
    fake.yields_per_call = 3
    await asyncio.gather(*(client.user_delete(f"u{i}@example.com") for i in range(50)))
    assert len(fake.calls("gettoken")) == 1
    assert len(fake.calls("user/delete")) == 50


async def test_token_is_reused_until_expires_in_minus_margin_then_refreshed(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(token_refresh_margin_seconds=300)
    await client.user_delete("a@example.com")
    clock.advance(7200 - 300 - 1)
    await client.user_delete("a@example.com")
    assert len(fake.calls("gettoken")) == 1
    clock.advance(2)
    await client.user_delete("a@example.com")
    assert len(fake.calls("gettoken")) == 2


async def test_margin_longer_than_the_token_lifetime_refreshes_at_half_lifetime(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    fake.expires_in = 100
    client = make_client(token_refresh_margin_seconds=300)
    await client.user_delete("a@example.com")
    clock.advance(49)
    await client.user_delete("a@example.com")
    assert len(fake.calls("gettoken")) == 1
    clock.advance(2)
    await client.user_delete("a@example.com")
    assert len(fake.calls("gettoken")) == 2


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_refused_token_is_refreshed_and_the_call_retried_exactly_once(
    client: ExmailClient, fake: Any, errcode: int,
) -> None:
    await client.user_delete("warm@example.com")
    fake.on("user/delete", {"errcode": errcode, "errmsg": "token refused"})
    await client.user_delete("a@example.com")
    assert len(fake.calls("gettoken")) == 2
    first, retried = fake.calls("user/delete")[-2:]
    assert first.url.params["access_token"] != retried.url.params["access_token"]
    assert fake.tokens[retried.url.params["access_token"]] is App.CONTACT


@pytest.mark.parametrize("errcode", [40001, 40014, 42001])
async def test_token_refused_again_after_the_refresh_raises_auth_error(
    client: ExmailClient, fake: Any, errcode: int,
) -> None:
    fake.always_answer("user/delete", {"errcode": errcode, "errmsg": "token refused"})
    with pytest.raises(AuthError) as info:
        await client.user_delete("a@example.com")
    assert info.value.errcode == errcode
    assert len(fake.calls("user/delete")) == 2
    assert len(fake.calls("gettoken")) == 2


async def test_expired_token_refused_by_the_server_is_replaced_transparently(
    client: ExmailClient, fake: Any,
) -> None:
    await client.user_delete("a@example.com")
    fake.expire_tokens()
    await client.user_delete("a@example.com")
    assert len(fake.calls("gettoken")) == 2
    assert fake.last("user/delete").url.params["access_token"] in fake.tokens


async def test_concurrent_refusals_of_one_token_cause_one_refresh(client: ExmailClient, fake: Any) -> None:
    await client.user_delete("warm@example.com")
    fake.expire_tokens()
    fake.yields_per_call = 2
    await asyncio.gather(*(client.user_delete(f"u{i}@example.com") for i in range(20)))
    assert len(fake.calls("gettoken")) == 2


async def test_gettoken_with_a_wrong_secret_raises_auth_error_40001_without_retry(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(secrets=AppSecrets(contact=SecretStr("not-the-secret")))
    with pytest.raises(AuthError) as info:
        await client.user_delete("a@example.com")
    assert info.value.errcode == 40001 and info.value.endpoint == "gettoken"
    assert len(fake.calls("gettoken")) == 1
    assert fake.calls("user/delete") == []


async def test_gettoken_failure_is_shared_by_all_concurrent_waiters(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(secrets=AppSecrets(contact=SecretStr("not-the-secret")))
    fake.yields_per_call = 3
    results = await asyncio.gather(
        *(client.user_delete(f"u{i}@example.com") for i in range(10)), return_exceptions=True
    )
    assert all(isinstance(r, AuthError) and r.errcode == 40001 for r in results)
    assert len(fake.calls("gettoken")) == 1


async def test_app_without_a_secret_raises_auth_error_without_calling_gettoken(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(secrets=AppSecrets(contact=SecretStr(fake.secrets[App.CONTACT])))
    with pytest.raises(AuthError, match="no secret configured for app 'sso'"):
        await client.get_login_url("a@example.com")
    assert fake.requests == []


async def test_gettoken_retries_server_busy_then_succeeds(
    client: ExmailClient, fake: Any, clock: Any,
) -> None:
    fake.on("gettoken", {"errcode": -1, "errmsg": "system busy"})
    await client.user_delete("a@example.com")
    assert len(fake.calls("gettoken")) == 2
    assert len(clock.sleeps) == 1


async def test_gettoken_answer_without_token_raises_a_clear_response_format_error(
    client: ExmailClient, fake: Any,
) -> None:
    fake.on("gettoken", {"errcode": 0, "errmsg": "ok", "expires_in": 7200})
    with pytest.raises(ExmailError, match="access_token: Field required"):
        await client.user_delete("a@example.com")


async def test_token_refreshes_metric_counts_each_fetch_per_app(client: ExmailClient, fake: Any) -> None:
    before = _refreshes(App.MAIL_NOTICE)
    await client.mail_newcount("a@example.com")
    await client.mail_newcount("b@example.com")
    fake.expire_tokens()
    await client.mail_newcount("c@example.com")
    assert _refreshes(App.MAIL_NOTICE) - before == 2


async def test_forget_tokens_forces_a_new_gettoken(client: ExmailClient, fake: Any) -> None:
    await client.tag_list()
    client.forget_tokens()
    await client.tag_list()
    assert len(fake.calls("gettoken")) == 2
