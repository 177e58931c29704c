"""The auth guard: declarations, roles, refusals (and what they log and count), start-up checks, mTLS."""

from __future__ import annotations

import datetime
import logging
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pipeline.auth import (
    AuthConfig,
    Authenticator,
    InsecureStartError,
    Role,
    TokenCredential,
    principal_of,
    public,
    requires,
    route_table,
    secure_app,
)
from pipeline.metrics import REGISTRY
from pipeline.observability import start_server

TOKEN = "ops-token-0123456789abcdefghij"


def app_with(*extra: tuple[str, str, Any]) -> web.Application:
    @public("liveness")
    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    @requires(Role.VIEWER)
    async def read(request: web.Request) -> web.Response:
        who = principal_of(request)
        return web.json_response({"who": who.name if who else None})

    @requires(Role.OPERATOR)
    async def change(request: web.Request) -> web.Response:
        who = principal_of(request)
        return web.json_response({"who": who.name if who else None})

    sub = web.Application()
    sub.router.add_post("/api/things", change)
    sub.router.add_get("/api/things", read)
    app = web.Application()
    app.router.add_get("/healthz", health)
    app.add_subapp("/sub", sub)
    for method, path, handler in extra:
        app.router.add_route(method, path, handler)
    return app


def auth(monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Authenticator:
    monkeypatch.setenv("OPS_TOKEN", TOKEN)
    monkeypatch.setenv("VIEW_TOKEN", "view-token-0123456789abcdefghij")
    return Authenticator(AuthConfig(tokens=[
        TokenCredential(name="alice", roles=[Role.OPERATOR], token="env:OPS_TOKEN"),
        TokenCredential(name="val", roles=[Role.VIEWER], token="env:VIEW_TOKEN"),
    ], **kw))


def failures(reason: str, process: str = "test") -> float:
    return REGISTRY.get_sample_value("exmail_auth_failures_total", {"process": process, "reason": reason}) or 0.0


def test_route_table_lists_sub_applications_with_their_declarations() -> None:
    table = {(r.method, r.path): r.to_dict()["access"] for r in route_table(app_with())}
    assert table == {("GET", "/healthz"): "public", ("POST", "/sub/api/things"): "operator",
                     ("GET", "/sub/api/things"): "viewer"}


def test_an_undeclared_route_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    async def naked(_: web.Request) -> web.Response:
        return web.Response()

    with pytest.raises(InsecureStartError, match="DELETE /naked"):
        secure_app(app_with(("DELETE", "/naked", naked)), auth(monkeypatch), process="test", host="0.0.0.0")
    with pytest.raises(ValueError, match="why"):
        public(" ")


def test_state_changing_routes_without_credentials_refuse_to_start() -> None:
    with pytest.raises(InsecureStartError, match="POST /sub/api/things"):
        secure_app(app_with(), Authenticator(AuthConfig()), process="test", host="127.0.0.1")
    insecure = AuthConfig(insecure_anonymous_admin_on_loopback=True)
    with pytest.raises(InsecureStartError, match="loopback"):
        secure_app(app_with(), Authenticator(insecure), process="test", host="0.0.0.0")
    secure_app(app_with(), Authenticator(insecure), process="test", host="127.0.0.1")  # allowed, loudly
    read_only = web.Application()
    read_only.router.add_get("/x", requires(Role.VIEWER)(lambda r: web.Response()))  # type: ignore[arg-type,return-value]
    secure_app(read_only, Authenticator(AuthConfig()), process="test", host="0.0.0.0")


def test_config_refuses_short_tokens_and_duplicate_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHORT", "short")
    with pytest.raises(ValueError, match="24"):
        Authenticator(AuthConfig(tokens=[TokenCredential(name="a", roles=[Role.ADMIN], token="env:SHORT")]))
    with pytest.raises(ValueError, match="unique"):
        AuthConfig(tokens=[TokenCredential(name="a", roles=[Role.ADMIN], token="env:X"),
                           TokenCredential(name="a", roles=[Role.VIEWER], token="env:Y")])
    with pytest.raises(ValueError, match="inline"):
        TokenCredential(name="a", roles=[Role.ADMIN], token="literal-secret")


async def test_roles_refusals_metrics_and_logs(monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "pipeline.auth")
    app = secure_app(app_with(), auth(monkeypatch), process="test", host="127.0.0.1")
    ops = {"Authorization": f"Bearer {TOKEN}"}
    view = {"Authorization": "Bearer view-token-0123456789abcdefghij"}
    before = {r: failures(r) for r in ("missing", "invalid", "forbidden")}
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        anon = await client.post("/sub/api/things")
        assert anon.status == 401 and anon.headers["WWW-Authenticate"].startswith("Bearer")
        assert (await client.post("/sub/api/things", headers={"Authorization": "Bearer guess-1"})).status == 401
        assert (await client.post("/sub/api/things", headers={"Authorization": f"Basic {TOKEN}"})).status == 401
        assert (await client.post("/sub/api/things", headers=view)).status == 403
        assert await (await client.get("/sub/api/things", headers=view)).json() == {"who": "val"}
        assert await (await client.post("/sub/api/things", headers=ops)).json() == {"who": "alice"}
        assert await (await client.get("/auth/whoami", headers=ops)).json() == {
            "name": "alice", "roles": ["operator"], "method": "bearer"}
        assert (await client.get("/auth/routes", headers=ops)).status == 403  # admin only
        assert (await client.get("/sub/api/things", params={"access_token": TOKEN})).status == 401  # header only
    assert failures("missing") == before["missing"] + 2  # POST + the query-token GET
    assert failures("invalid") == before["invalid"] + 2
    assert failures("forbidden") == before["forbidden"] + 2
    assert "auth refused POST /sub/api/things" in caplog.text
    assert TOKEN not in caplog.text and "guess-1" not in caplog.text


async def test_failed_attempts_are_rate_limited_per_address(monkeypatch: pytest.MonkeyPatch) -> None:
    app = secure_app(app_with(), auth(monkeypatch, max_failures=3, failure_window_seconds=600),
                     process="test", host="127.0.0.1")
    before = failures("rate_limited")
    async with TestClient(TestServer(app)) as client:
        for i in range(3):
            resp = await client.get("/sub/api/things", headers={"Authorization": f"Bearer guess-{i}"})
            assert resp.status == 401
        limited = await client.get("/sub/api/things", headers={"Authorization": f"Bearer {TOKEN}"})
        assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
        assert (await client.get("/healthz")).status == 200  # public routes without credentials still answer
    assert failures("rate_limited") == before + 1


def _cert(name: str, issuer: tuple[Any, x509.Name] | None, tmp: Path, ca: bool = False) -> tuple[Any, x509.Name]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    sign_key, issuer_name = issuer if issuer else (key, subject)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if name == "localhost":
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
    cert = builder.sign(sign_key, hashes.SHA256())
    (tmp / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                        serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return key, subject


async def test_client_certificates_are_principals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = _cert("test-ca", None, tmp_path, ca=True)
    _cert("localhost", ca, tmp_path)
    _cert("pager-bot", ca, tmp_path)
    _cert("stranger", ca, tmp_path)
    mtls = {"cert_file": tmp_path / "localhost.pem", "key_file": tmp_path / "localhost.key",
            "client_ca_file": tmp_path / "test-ca.pem", "clients": {"pager-bot": ["operator"]}}
    runner = await start_server(app_with(), "127.0.0.1", 0, AuthConfig(mtls=mtls), process="test")
    port = runner.addresses[0][1]
    url = f"https://localhost:{port}/sub/api/things"

    def client(name: str | None) -> httpx.AsyncClient:
        ctx = ssl.create_default_context(cafile=str(tmp_path / "test-ca.pem"))
        if name:
            ctx.load_cert_chain(str(tmp_path / f"{name}.pem"), str(tmp_path / f"{name}.key"))
        return httpx.AsyncClient(verify=ctx)

    try:
        async with client("pager-bot") as c:
            assert (await c.post(url)).json() == {"who": "cert:pager-bot"}
        async with client("stranger") as c:
            assert (await c.post(url)).status_code == 401
        async with client(None) as c:
            assert (await c.post(url)).status_code == 401
    finally:
        await runner.cleanup()
