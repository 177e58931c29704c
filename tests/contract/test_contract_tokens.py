"""gettoken, per-app tokens (602005), and the refresh-once contract for refused tokens (40014 / 42001 /
40001), whether the token expired early (fault), was expired or revoked by the admin API, or simply reached
`expires_in` on the client's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from pydantic import SecretStr

from pipeline.exmail import App, AppSecrets, AuthError, ExmailClient, PermissionDenied
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
TODAY = "2026-01-05"

ClientFactory = Callable[..., ExmailClient]


async def issued(sim: SimulatorHandle) -> int:
    return int((await sim.admin.stats())["tokens"]["issued"])


async def test_gettoken_returns_token_with_expires_in(client: ExmailClient, sim: SimulatorHandle) -> None:
    token = await client.fetch_token(App.CONTACT)
    assert isinstance(token.access_token, SecretStr)
    assert len(token.access_token.get_secret_value()) >= 64
    assert token.expires_in == 7200
    assert (await sim.admin.stats())["tokens"]["live"]["contact"] == 1


@pytest.mark.parametrize("app", list(App))
async def test_gettoken_each_app_secret_accepted(client: ExmailClient, app: App) -> None:
    assert (await client.fetch_token(app)).expires_in > 0


async def test_gettoken_cached_one_call_per_app(client: ExmailClient, sim: SimulatorHandle) -> None:
    for _ in range(3):
        await client.user_get(ADMIN)
    await client.log_batchjob(TODAY, TODAY)
    await client.log_batchjob(TODAY, TODAY)
    assert await issued(sim) == 2


async def test_gettoken_wrong_secret_40001(make_client: ClientFactory, calls: Callable[[str], int]) -> None:
    secret = "wrong-secret-value-0123456789abcdefghijklmno"
    client = make_client(secrets=AppSecrets(contact=SecretStr(secret)))
    with pytest.raises(AuthError) as caught:
        await client.user_get(ADMIN)
    assert caught.value.errcode == 40001
    assert secret not in str(caught.value) and secret not in repr(caught.value)
    assert calls("gettoken") == 1  # an auth refusal is not retried
    assert calls("user/get") == 0


async def test_gettoken_wrong_corpid_40013(make_client: ClientFactory) -> None:
    client = make_client(corp_id="ww0000000000000000")
    with pytest.raises(AuthError) as caught:
        await client.fetch_token(App.CONTACT)
    assert caught.value.errcode == 40013


async def test_gettoken_missing_secret_refused_without_call(
    make_client: ClientFactory, calls: Callable[[str], int]
) -> None:
    client = make_client(secrets=AppSecrets())
    with pytest.raises(AuthError):
        await client.user_get(ADMIN)
    assert calls("gettoken") == 0


@pytest.mark.parametrize(
    ("slot", "foreign", "call"),
    [
        ("system_log", "contact", lambda c: c.log_batchjob(TODAY, TODAY)),
        ("mail_notice", "contact", lambda c: c.mail_newcount(ADMIN)),
        ("function_setting", "contact", lambda c: c.useroption_get(ADMIN)),
        ("sso", "contact", lambda c: c.get_login_url(ADMIN)),
        ("contact", "system_log", lambda c: c.user_get(ADMIN)),
    ],
    ids=[
        "log-with-contact",
        "newcount-with-contact",
        "useroption-with-contact",
        "sso-with-contact",
        "addressbook-with-log",
    ],
)
async def test_per_app_token_wrong_app_602005(
    make_client: ClientFactory,
    sim: SimulatorHandle,
    slot: str,
    foreign: str,
    call: Callable[[ExmailClient], Awaitable[object]],
) -> None:
    """A token of another app (a secret configured in the wrong slot) is refused with 602005, not retried."""
    sim_name = "unique_login" if foreign == "sso" else foreign
    client = make_client(secrets=AppSecrets(**{slot: SecretStr(sim.credentials["secrets"][sim_name])}))
    with pytest.raises(PermissionDenied) as caught:
        await call(client)
    assert caught.value.errcode == 602005
    assert await issued(sim) == 1


@pytest.mark.parametrize("errcode", [40014, 42001, 40001])
async def test_token_expired_early_refreshed_and_retried(
    client: ExmailClient, sim: SimulatorHandle, errcode: int
) -> None:
    await sim.admin.set_choices(expired_token_errcode=errcode)
    await client.user_get(ADMIN)
    await sim.admin.add_fault(kind="expire_token", endpoint="user/get", count=1)
    user = await client.user_get(ADMIN)
    assert user.userid == ADMIN
    assert await issued(sim) == 2
    assert sim.sim.api.calls["user/get"] == 3


async def test_token_expired_by_admin_refreshed_per_app(client: ExmailClient, sim: SimulatorHandle) -> None:
    await client.user_get(ADMIN)
    await client.log_batchjob(TODAY, TODAY)
    assert await sim.admin.expire_tokens("expire") == 2
    await client.user_get(ADMIN)
    await client.log_batchjob(TODAY, TODAY)
    assert await issued(sim) == 4


async def test_token_revoked_unknown_40014_refreshed(client: ExmailClient, sim: SimulatorHandle) -> None:
    await client.user_get(ADMIN)
    await sim.admin.expire_tokens("revoke", "contact")
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert await issued(sim) == 2


async def test_token_expired_under_concurrency_one_refresh(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    """Many in-flight calls refused with the same expired token share a single gettoken."""
    await client.user_get(ADMIN)
    await sim.admin.expire_tokens("expire", "contact")
    users = await asyncio.gather(*(client.user_get(ADMIN) for _ in range(10)))
    assert {u.userid for u in users} == {ADMIN}
    assert await issued(sim) == 2


async def test_token_refused_twice_refreshes_only_once(client: ExmailClient, sim: SimulatorHandle) -> None:
    await sim.admin.add_fault(kind="expire_token", endpoint="user/get", count=2)
    with pytest.raises(AuthError) as caught:
        await client.user_get(ADMIN)
    assert caught.value.errcode == 40014
    assert sim.sim.api.calls["user/get"] == 2
    assert await issued(sim) == 2


async def test_token_reaches_expires_in_refetched_before_use(
    make_client: ClientFactory, sim: SimulatorHandle
) -> None:
    """The client refreshes on its own clock from `expires_in` (minus the margin): no refused call needed."""
    now = [1000.0]
    client = make_client(clock=lambda: now[0], token_refresh_margin_seconds=300)
    await client.user_get(ADMIN)
    now[0] += 7200 - 300 - 1
    await client.user_get(ADMIN)
    assert sim.sim.api.calls["gettoken"] == 1
    now[0] += 2
    await client.user_get(ADMIN)
    assert sim.sim.api.calls["gettoken"] == 2  # refetched (the server may answer with the same live token)
    assert sim.sim.api.calls["user/get"] == 3


@pytest.mark.parametrize("reissue", ["same", "new_revokes_old"])
async def test_token_reissue_modes_compatible(
    client: ExmailClient, sim: SimulatorHandle, reissue: str
) -> None:
    """However the server treats a second gettoken (same token, old one revoked), the client works on."""
    await sim.admin.set_choices(token_reissue=reissue)
    await client.user_get(ADMIN)
    await client.fetch_token(App.CONTACT)
    assert (await client.user_get(ADMIN)).userid == ADMIN
