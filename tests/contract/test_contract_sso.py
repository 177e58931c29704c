"""service/get_login_url (SSO app) through the client, then the simulator's /cgi-bin/login accepting the
authkey exactly once and logging a web login that log/login returns."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from pipeline.exmail import ExmailClient, LoginType, NotFound
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
USER = f"it.ops@{DOMAIN}"
TODAY = "2026-01-05"
T0 = 1767578400


async def test_get_login_url_one_time_url_on_simulator(client: ExmailClient, sim: SimulatorHandle) -> None:
    login = await client.get_login_url(USER)
    url = login.login_url.get_secret_value()
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert f"{parts.scheme}://{parts.netloc}" == sim.base_url and parts.path == "/cgi-bin/login"
    assert (query["fun"], query["method"], query["userid"]) == ("bizopenssologin", "openapi", USER)
    assert query["authkey"] and query["authkey"] not in repr(login)
    assert login.expires_in == 300


async def test_get_login_url_authkey_accepted_once(client: ExmailClient, sim: SimulatorHandle) -> None:
    first = (await client.get_login_url(USER)).login_url.get_secret_value()
    second = (await client.get_login_url(USER)).login_url.get_secret_value()
    assert first != second
    async with httpx.AsyncClient() as browser:
        ok = await browser.get(first)
        assert ok.status_code == 200 and USER in ok.text
        assert (await browser.get(first)).status_code == 403
        assert (await browser.get(second)).status_code == 200
    assert [s["userid"] for s in await sim.admin.truth("sso")] == [USER, USER]


async def test_get_login_url_login_appears_in_log_login(client: ExmailClient) -> None:
    url = (await client.get_login_url(USER)).login_url.get_secret_value()
    async with httpx.AsyncClient() as browser:
        assert (await browser.get(url)).status_code == 200
    records = await client.log_login(USER, TODAY, TODAY)
    assert [(r.time, r.ip, r.type) for r in records] == [(T0, "127.0.0.1", LoginType.WEB)]


async def test_get_login_url_unknown_user_60111(client: ExmailClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.get_login_url(f"ghost@{DOMAIN}")
    assert caught.value.errcode == 60111
