"""OIDC logins end to end: `pipeline ingest` with the gateway, the simulator, and a real oidc-provider.

A customer-service agent opens the shared box and lands on the simulator's one-time login URL for it (and can
use it); a colleague outside the group is refused; a replayed callback and a forged state are refused; a
second mailbox within the session needs no new IdP round trip. Every outcome is an exmail.action/1 record,
and a real worker's audit agent stores them in the audit store."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_oidc_logins(sim: Any, oidc_provider: Any, ingest_process: Any, read_actions: Any,
                           validate_action: Any, browser_kit: Any, audit_store: Any, tmp_path: Path) -> None:
    follow, location, reason_code = browser_kit.follow, browser_kit.location, browser_kit.reason_code
    creds = sim.credentials
    service = creds["service_mailbox"]
    users = [u["userid"] for u in (await sim.admin.directory())["users"] if u["enable"] == 1 and u["userid"] != service]
    agent, colleague = users[0], users[1]
    port = browser_kit.free_port()
    callback = f"http://127.0.0.1:{port}/sso/oidc/callback"
    idp = oidc_provider([callback], {"agent": {"email": agent, "groups": ["customer-service", "staff"]},
                                     "colleague": {"email": colleague, "groups": ["staff"]}})
    secret = tmp_path / "gateway.secret"
    secret.write_text(base64.b64encode(os.urandom(32)).decode())
    ingest = await ingest_process(sim, port, {
        "public_url": f"http://127.0.0.1:{port}", "secret": f"file:{secret}", "domains": [creds["domain"]],
        "shared": [{"mailbox": service, "groups": ["customer-service"]}], "cookie_secure": False,
        "oidc": {"issuer": idp.issuer, "client_id": idp.client_id, "client_secret": f"file:{idp.client_secret_file}",
                 "scopes": ["openid", "email", "groups"]},
    })
    sim_login = f"{creds['base_url'].rstrip('/')}/cgi-bin/login"

    async with httpx.AsyncClient(timeout=20) as browser:
        # the agent opens the shared box: IdP login + consent forms, callback, then Exmail's login URL
        start = await browser.get(f"{ingest.url}/sso/mail", params={"box": service})
        assert start.status_code == 302 and location(start).startswith(f"{idp.issuer}/auth?")
        auth = parse_qs(urlsplit(location(start)).query)
        assert auth["code_challenge_method"] == ["S256"] and auth["nonce"] and auth["state"]
        tx_cookie = start.cookies.get("exmail_sso_tx")
        assert tx_cookie and "httponly" in start.headers["set-cookie"].lower()
        assert "samesite=lax" in start.headers["set-cookie"].lower()
        back = await follow(browser, await browser.get(location(start)), stop_at=callback,
                            fill={"login": "agent", "password": "any"})
        callback_url = location(back)
        done = await browser.get(callback_url)
        assert done.status_code == 302, done.text
        login_url = location(done)
        assert login_url.startswith(sim_login)
        assert parse_qs(urlsplit(login_url).query)["userid"] == [service]
        landed = await browser.get(login_url)
        assert landed.status_code == 200 and service in landed.text  # the simulator accepted the one-time URL
        assert [r["userid"] for r in await sim.admin.truth("sso")] == [service]

        # the same callback again, with the same transaction cookie: refused as a replay
        assert "exmail_sso_tx" not in browser.cookies  # the gateway dropped the finished transaction
        browser.cookies.set("exmail_sso_tx", tx_cookie, domain="127.0.0.1", path="/sso")
        replayed = await browser.get(callback_url)
        assert replayed.status_code == 400 and reason_code(replayed.text) == "replayed"
        assert "已经使用过" in replayed.text and "already used" in replayed.text

        # within the session: the agent's own mailbox without another IdP round trip
        own = await browser.get(f"{ingest.url}/sso/mail")
        assert own.status_code == 302 and parse_qs(urlsplit(location(own)).query)["userid"] == [agent]

    async with httpx.AsyncClient(timeout=20) as browser:
        # a colleague outside customer-service is refused the shared box, in Chinese and English
        start = await browser.get(f"{ingest.url}/sso/mail", params={"box": service})
        back = await follow(browser, await browser.get(location(start)), stop_at=callback,
                            fill={"login": "colleague", "password": "any"})
        refused = await browser.get(location(back))
        assert refused.status_code == 403 and reason_code(refused.text) == "not_in_group"
        assert "无权打开此共享邮箱" in refused.text and "not in a group" in refused.text

        # a forged state (signed with another key, naming this browser's transaction) is refused
        start = await browser.get(f"{ingest.url}/sso/mail")
        state = parse_qs(urlsplit(location(start)).query)["state"][0]
        body, _sig = state.split(".")
        forged = f"{body}.{base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode()}"
        refused = await browser.get(f"{ingest.url}/sso/oidc/callback?" + urlencode({"code": "x", "state": forged}))
        assert refused.status_code == 400 and reason_code(refused.text) == "forged_state"
        # and a genuine state from another browser (no transaction cookie here) is refused too
        browser.cookies.clear()
        refused = await browser.get(f"{ingest.url}/sso/oidc/callback?" + urlencode({"code": "x", "state": state}))
        assert refused.status_code == 400 and reason_code(refused.text) == "state_mismatch"

    assert len(await sim.admin.truth("sso")) == 1  # no refused attempt reached Exmail
    records = await read_actions()
    for r in records:
        validate_action(r)
    outcomes = [(r["data"]["target"]["userid"], r["data"]["requested_by"], r["data"]["status"], r["data"]["error"])
                for r in records]
    assert sorted(outcomes) == sorted([
        (service, f"sso:oidc:{agent}", "executed", None),
        ("anonymous", "sso:oidc:anonymous", "failed", "replayed"),
        (agent, f"sso:oidc:{agent}", "executed", None),
        (service, f"sso:oidc:{colleague}", "failed", "not_in_group"),
        ("anonymous", "sso:oidc:anonymous", "failed", "forged_state"),
        ("anonymous", "sso:oidc:anonymous", "failed", "state_mismatch"),
    ]), outcomes
    shared = next(r for r in records if r["data"]["status"] == "executed" and r["data"]["params"]["shared"])
    assert shared["data"]["params"]["via_groups"] == ["customer-service"]
    assert shared["data"]["calls"][0]["endpoint"] == "service/get_login_url"
    assert shared["data"]["source"] == {"ip": "127.0.0.1"}
    assert shared["source"] == "pipeline.sso_gateway" and shared["data"]["event"]["outcome"] == "success"
    assert "authkey" not in str(records)  # the one-time login URL is never recorded

    # the records land in the audit store (a real worker's audit agent), indexed by action, user and outcome
    stored = await audit_store(len(records))
    assert sorted(r["id"] for r in stored) == sorted(r["id"] for r in records)
    assert {(r["user"], r["outcome"], r["source_ip"]) for r in stored if r["user"] == service} == {
        (service, "success", "127.0.0.1"), (service, "failure", "127.0.0.1")}
