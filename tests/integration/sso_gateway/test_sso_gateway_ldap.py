"""LDAP logins end to end: `pipeline ingest` with the gateway, the simulator, and a private slapd.

A member of the customer-service group logs in through the form and lands on the simulator's one-time login
URL for the shared box; a member of another group is refused; a wrong password gets the form again; an LDAP
filter injection finds nobody; a replayed form post and a forged state are refused. Every outcome is an
exmail.action/1 record."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_ldap_logins(sim: Any, slapd: Any, ingest_process: Any, read_actions: Any, validate_action: Any,
                           browser_kit: Any, tmp_path: Path) -> None:
    location, reason_code, parse_form = browser_kit.location, browser_kit.reason_code, browser_kit.parse_form
    creds = sim.credentials
    service = creds["service_mailbox"]
    users = [u["userid"] for u in (await sim.admin.directory())["users"] if u["enable"] == 1 and u["userid"] != service]
    agent, seller = users[2], users[3]
    directory = slapd([
        {"uid": "agent", "password": "agent-pw-1", "mail": agent, "groups": ["customer-service", "staff"]},
        {"uid": "seller", "password": "seller-pw-1", "mail": seller, "groups": ["sales", "staff"]},
    ])
    port = browser_kit.free_port()
    secret = tmp_path / "gateway.secret"
    secret.write_text(base64.b64encode(os.urandom(32)).decode())
    ingest = await ingest_process(sim, port, {
        "public_url": f"http://127.0.0.1:{port}", "secret": f"file:{secret}", "domains": [creds["domain"]],
        "shared": [{"mailbox": service, "groups": ["customer-service"]}], "cookie_secure": False,
        "ldap": {"url": directory.url, "bind_dn": "cn=reader,dc=example,dc=com",
                 "bind_password": f"file:{directory.reader_password_file}",
                 "user_base": "ou=people,dc=example,dc=com", "group_base": "ou=groups,dc=example,dc=com"},
    })
    sim_login = f"{creds['base_url'].rstrip('/')}/cgi-bin/login"

    async def open_form(browser: httpx.AsyncClient, box: str | None) -> dict[str, Any]:
        start = await browser.get(f"{ingest.url}/sso/mail", params={"box": box} if box else {})
        assert start.status_code == 302 and urlsplit(location(start)).path == "/sso/ldap/login"
        page = await browser.get(location(start))
        assert page.status_code == 200 and page.headers["x-frame-options"] == "DENY"
        return parse_form(page.text)

    async def submit(browser: httpx.AsyncClient, form: dict[str, Any], username: str, password: str) -> httpx.Response:
        return await browser.post(f"{ingest.url}{form['action']}",
                                  data={**form["fields"], "username": username, "password": password})

    async with httpx.AsyncClient(timeout=20) as browser:
        # a wrong password: the form again, with a fresh state
        form = await open_form(browser, service)
        wrong = await submit(browser, form, "agent", "not-the-password")
        assert wrong.status_code == 401 and "Wrong user name or password" in wrong.text
        retry = parse_form(wrong.text)
        assert retry["fields"]["state"] != form["fields"]["state"]
        # an LDAP filter injection in the user name matches nobody
        injected = await submit(browser, retry, "*", "agent-pw-1")
        assert injected.status_code == 401
        # the agent, with the right password, opens the shared box
        retry = parse_form(injected.text)
        done = await submit(browser, retry, "agent", "agent-pw-1")
        assert done.status_code == 302, done.text
        assert location(done).startswith(sim_login)
        assert parse_qs(urlsplit(location(done)).query)["userid"] == [service]
        landed = await browser.get(location(done))
        assert landed.status_code == 200 and service in landed.text
        # the same post again (same state, same transaction cookie): refused as a replay
        tx_cookie = done.request.headers["cookie"].split("exmail_sso_tx=")[1].split(";")[0]
        browser.cookies.set("exmail_sso_tx", tx_cookie, domain="127.0.0.1", path="/sso")
        replayed = await submit(browser, retry, "agent", "agent-pw-1")
        assert replayed.status_code == 400 and reason_code(replayed.text) == "replayed"

    async with httpx.AsyncClient(timeout=20) as browser:
        # a member of sales only is refused the shared box
        form = await open_form(browser, service)
        refused = await submit(browser, form, "seller", "seller-pw-1")
        assert refused.status_code == 403 and reason_code(refused.text) == "not_in_group"
        assert "无权打开此共享邮箱" in refused.text and "not in a group" in refused.text
        # but opens their own mailbox
        form = await open_form(browser, None)
        own = await submit(browser, form, "seller", "seller-pw-1")
        assert own.status_code == 302 and parse_qs(urlsplit(location(own)).query)["userid"] == [seller]
        # the login is a session: the next /mail goes straight to Exmail
        again = await browser.get(f"{ingest.url}/sso/mail")
        assert again.status_code == 302 and parse_qs(urlsplit(location(again)).query)["userid"] == [seller]
        # a forged state is refused
        form = parse_form((await browser.get(f"{ingest.url}/sso/ldap/login")).text)
        body, _sig = form["fields"]["state"].split(".")
        form["fields"]["state"] = f"{body}.{base64.urlsafe_b64encode(os.urandom(32)).rstrip(b'=').decode()}"
        forged = await submit(browser, form, "seller", "seller-pw-1")
        assert forged.status_code == 400 and reason_code(forged.text) == "forged_state"

    assert [r["userid"] for r in await sim.admin.truth("sso")] == [service]
    records = await read_actions()
    for r in records:
        validate_action(r)
    outcomes = sorted((r["data"]["target"]["userid"], r["data"]["requested_by"], r["data"]["status"],
                       r["data"]["error"]) for r in records)
    assert outcomes == sorted([
        (service, "sso:ldap:agent", "failed", "bad_credentials"),
        (service, "sso:ldap:*", "failed", "bad_credentials"),
        (service, "sso:ldap:agent", "executed", None),
        ("anonymous", "sso:ldap:anonymous", "failed", "replayed"),
        (service, "sso:ldap:seller", "failed", "not_in_group"),
        (seller, "sso:ldap:seller", "executed", None),
        (seller, "sso:ldap:seller", "executed", None),
        ("anonymous", "sso:ldap:anonymous", "failed", "forged_state"),
    ]), outcomes
    opened = next(r for r in records if r["data"]["target"]["userid"] == service and r["data"]["status"] == "executed")
    assert opened["data"]["params"]["subject"] == "uid=agent,ou=people,dc=example,dc=com"
    assert opened["data"]["params"]["groups"] == ["customer-service", "staff"]
    assert sum(r["data"]["params"]["via_session"] for r in records) == 1
    assert "agent-pw-1" not in str(records) and "not-the-password" not in str(records)
