"""The gateway's HTTP side with fakes for the directory, Exmail and the audit producer (the real ones are in
tests/integration/sso_gateway): the route table, cookie flags, records that validate against the schema, and
refusing when the login cannot be recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from pipeline.envelope import Envelope
from pipeline.exmail import NotFound
from pipeline.metrics import REGISTRY
from pipeline.sso_gateway import ROUTES, LoginRefused, SsoGateway, SsoGatewaySettings
from pipeline.sso_gateway._ldap import LdapIdentity
from pipeline.sso_gateway._pages import REFUSALS, parse_reason

SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"
LOGIN_URL = "https://exmail.example/cgi-bin/login?fun=bizopenssologin&userid=x&authkey=SECRETKEY"


def action_validator() -> Draft202012Validator:
    resources = [(d["$id"], Resource.from_contents(d)) for d in
                 (orjson.loads(p.read_bytes()) for p in SCHEMAS.glob("*.json")) if isinstance(d, dict) and "$id" in d]
    registry: Registry[Any] = Registry().with_resources(resources)
    return Draft202012Validator(orjson.loads((SCHEMAS / "action.v1.json").read_bytes()), registry=registry)


class FakeDirectory:
    async def authenticate(self, username: str, password: str) -> LdapIdentity:
        if (username, password) != ("alice", "pw"):
            raise LoginRefused("bad_credentials", "wrong")
        return LdapIdentity("uid=alice,o=x", "alice", "alice@example.com", ("cs",))


class Harness:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, **over: Any) -> None:
        monkeypatch.setenv("GW_SECRET", "s" * 40)
        monkeypatch.setenv("LDAP_PW", "reader")
        self.settings = SsoGatewaySettings.model_validate({
            "public_url": "https://gw.example.com", "secret": "env:GW_SECRET", "domains": ["example.com"],
            "shared": [{"mailbox": "service@example.com", "groups": ["cs"]}],
            "ldap": {"url": "ldap://127.0.0.1:1", "bind_dn": "cn=r", "bind_password": "env:LDAP_PW",
                     "user_base": "o=x", "group_base": "o=x"}, "cookie_secure": False, **over})
        self.records: list[Envelope] = []
        self.fail_record = False
        self.exmail_error: Exception | None = None
        self.asked: list[str] = []
        self.gateway = SsoGateway(self.settings, corp_id="wx-corp", login_url=self.login_url, record=self.record)
        monkeypatch.setattr(self.gateway, "_ldap", FakeDirectory())

    async def login_url(self, mailbox: str) -> str:
        self.asked.append(mailbox)
        if self.exmail_error is not None:
            raise self.exmail_error
        return LOGIN_URL

    async def record(self, key: bytes, envelope: Envelope) -> None:
        if self.fail_record:
            raise RuntimeError("broker down")
        self.records.append(envelope)

    async def client(self) -> TestClient:
        app = web.Application()
        self.gateway.mount(app)
        client = TestClient(TestServer(app))
        await client.start_server()
        return client


async def login(client: TestClient, box: str | None, username: str = "alice", password: str = "pw") -> Any:
    page = await client.get("/sso/ldap/login", params={"box": box} if box else {}, allow_redirects=False)
    assert page.status == 200
    text = await page.text()
    state = text.split("name='state' value='")[1].split("'")[0]
    return await client.post("/sso/ldap/login", data={"state": state, "username": username, "password": password},
                             allow_redirects=False)


def test_route_table_declares_every_route_public_with_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    app = web.Application()
    h.gateway.mount(app)
    mounted = {(r.method, r.resource.canonical) for r in app.router.routes() if r.method != "HEAD"
               and r.resource is not None}
    assert mounted == {(r.method, f"/sso{r.path}") for r in ROUTES}
    assert all(r.access == "public" and len(r.reason) > 20 for r in ROUTES)


async def test_cookie_flags_and_page_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    client = await Harness(monkeypatch, cookie_secure=True).client()
    try:
        page = await client.get("/sso/ldap/login", allow_redirects=False)
        tx = page.headers["Set-Cookie"]
        for flag in ("exmail_sso_tx=", "HttpOnly", "SameSite=Lax", "Secure", "Path=/sso", "Max-Age=300"):
            assert flag in tx
        assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    finally:
        await client.close()


async def test_allowed_login_redirects_and_records(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    client = await h.client()
    try:
        start = await client.get("/sso/mail", params={"box": "service@example.com"}, allow_redirects=False)
        assert start.status == 302 and start.headers["Location"] == "/sso/ldap/login?box=service%40example.com"
        done = await login(client, "service@example.com")
        assert done.status == 302 and done.headers["Location"] == LOGIN_URL
        cookies = done.headers.getall("Set-Cookie")
        assert any(c.startswith("exmail_sso_session=") and "HttpOnly" in c and "SameSite=Lax" in c for c in cookies)
        assert h.asked == ["service@example.com"]
        (record,) = h.records
        action_validator().validate(record.to_dict())
        assert record.data["source"] == {"ip": "127.0.0.1"} and record.data["params"]["via_groups"] == ["cs"]
        assert "SECRETKEY" not in orjson.dumps(record.to_dict()).decode()
    finally:
        await client.close()


async def test_unrecorded_login_is_not_let_through(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    h.fail_record = True
    client = await h.client()
    labels = {"method": "ldap", "outcome": "refused", "reason": "audit_unavailable"}
    before = REGISTRY.get_sample_value("exmail_sso_gateway_logins_total", labels) or 0.0
    try:
        resp = await login(client, None)
        assert resp.status == 503 and "Location" not in resp.headers
        assert parse_reason(await resp.text()) == "audit_unavailable"
        assert REGISTRY.get_sample_value("exmail_sso_gateway_logins_total", labels) == before + 1
    finally:
        await client.close()


async def test_refusals_are_recorded_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(monkeypatch)
    h.exmail_error = NotFound(60111, "userid not found", "service/get_login_url")
    client = await h.client()
    try:
        missing = await login(client, None)
        assert missing.status == 404 and parse_reason(await missing.text()) == "no_such_mailbox"
        wrong = await login(client, None, password="nope")
        assert wrong.status == 401 and "name='state'" in await wrong.text()  # the form again
        state = (await wrong.text()).split("name='state' value='")[1].split("'")[0]
        client.session.cookie_jar.clear()  # a cross-site post of a genuine state: SameSite=Lax sends no cookie
        cross = await client.post("/sso/ldap/login", data={"state": state, "username": "alice", "password": "pw"})
        assert cross.status == 400 and parse_reason(await cross.text()) == "state_mismatch"
        forged = await client.post("/sso/ldap/login", data={"state": "x.y", "username": "alice", "password": "pw"})
        assert forged.status == 400 and parse_reason(await forged.text()) == "forged_state"
        other = await client.get("/sso/mail", params={"via": "oidc"})
        assert other.status == 404 and parse_reason(await other.text()) == "method_unavailable"
        bad = await client.get("/sso/mail", params={"box": "not a mailbox"})
        assert bad.status == 400 and "邮箱地址" in await bad.text()
    finally:
        await client.close()
    validator = action_validator()
    for r in h.records:
        validator.validate(r.to_dict())
    assert [(r.data["error"], r.data["errcode"]) for r in h.records] == [
        ("no_such_mailbox", 60111), ("bad_credentials", None), ("state_mismatch", None), ("forged_state", None),
        ("method_unavailable", None), ("bad_request", None)]


def test_every_refusal_page_is_bilingual() -> None:
    for reason, (status, zh_title, zh_text, en_title, en_text) in REFUSALS.items():
        assert 400 <= status < 600, reason
        assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in (zh_title, zh_text)), reason
        assert en_title.isascii() and en_text.isascii(), reason
