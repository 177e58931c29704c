"""No secret crosses the client's boundary over real TCP: corp secrets, access tokens and SSO authkeys stay
out of log records (the client's, httpx's, httpcore's) and out of every exception raised, on success and on
each error path."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from pipeline.exmail import App, AppSecrets, ExmailClient, ExmailError
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

ClientFactory = Callable[..., ExmailClient]

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
TODAY = "2026-01-05"
WRONG_SECRET = "not-the-secret-0123456789abcdefghijklmnopqrst"


async def test_secrets_tokens_authkeys_never_logged_or_raised(
    make_client: ClientFactory, sim: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await sim.admin.set_choices(token_reissue="same")  # fetch_token then returns the live cached token
    client = make_client(read_timeout_seconds=0.25)
    errors: list[ExmailError] = []

    async def expect_error(call: Awaitable[object]) -> None:
        with pytest.raises(ExmailError) as caught:
            await call
        errors.append(caught.value)

    await client.user_get(ADMIN)
    await client.log_batchjob(TODAY, TODAY)
    await client.mail_newcount(ADMIN)
    await client.useroption_get(ADMIN)
    login_url = (await client.get_login_url(ADMIN)).login_url.get_secret_value()
    authkey = parse_qs(urlsplit(login_url).query)["authkey"][0]
    tokens = [(await client.fetch_token(app)).access_token.get_secret_value() for app in App]

    await expect_error(client.user_get(f"ghost@{DOMAIN}"))
    await sim.admin.add_fault(kind="http_status", status=503, endpoint="user/get", count=4)
    await expect_error(client.user_get(ADMIN))
    await sim.admin.add_fault(kind="drop", endpoint="user/get", count=4)
    await expect_error(client.user_get(ADMIN))
    await sim.admin.add_fault(kind="delay", delay=0.5, endpoint="user/get", count=4)
    await expect_error(client.user_get(ADMIN))
    await sim.admin.add_fault(kind="expire_token", endpoint="log/*", count=2)
    await expect_error(client.log_batchjob(TODAY, TODAY))
    misplaced = sim.credentials["secrets"]["contact"]
    wrong_slot = make_client(secrets=AppSecrets(system_log=SecretStr(misplaced)))
    await expect_error(wrong_slot.log_batchjob(TODAY, TODAY))
    bad = make_client(secrets=AppSecrets(contact=SecretStr(WRONG_SECRET)))
    await expect_error(bad.user_get(ADMIN))

    assert [e.errcode for e in errors] == [60111, None, None, None, 40014, 602005, 40001]
    secrets = [*sim.credentials["secrets"].values(), *tokens, authkey, WRONG_SECRET]
    assert any("access_token=***" in r.getMessage() for r in caplog.records)  # requests were logged, masked
    for value in secrets:
        assert value not in caplog.text
        for error in errors:
            assert value not in str(error) and value not in repr(error) and value not in repr(error.args)
