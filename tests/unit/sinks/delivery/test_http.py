"""The default HTTP client (one pool per sink: `_h1` direct, aiohttp behind a proxy) against local aiohttp servers
over TCP and TLS: the reply shape, Retry-After, header pass-through, framings and encodings aiohttp answers with,
and the error classes the sinks act on."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass
from pipeline.sinks.delivery.http import HttpReply, HttpRequest, HttpSettings, PooledClient, exchange, new_client

SECRET = "s3cr3t-KEY"
PEER = web.RequestKey("peer", tuple)  # the client's address, kept: request.transport is gone once it closes


@pytest.fixture
async def server() -> AsyncIterator[tuple[TestServer, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def ok(request: web.Request) -> web.Response:
        assert request.transport is not None
        request[PEER] = request.transport.get_extra_info("peername")
        seen.append(request)
        bodies.append(await request.read())
        return web.json_response({"errcode": 0})

    async def busy(request: web.Request) -> web.Response:
        return web.Response(status=429, headers={"Retry-After": "7"})

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="not json")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/ok")

    async def down(request: web.Request) -> web.Response:
        return web.Response(status=503, headers={"Retry-After": "3"})

    async def refused(request: web.Request) -> web.Response:
        return web.json_response({"error": "bad signature"}, status=401)

    async def chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for piece in (b'{"errcode"', b":0,", b'"pad":"' + b"x" * 5000 + b'"}'):
            await response.write(piece)
        await response.write_eof()
        return response

    async def compressed(request: web.Request) -> web.Response:
        response = web.json_response({"errcode": 0, "pad": "y" * 5000})
        response.enable_compression(web.ContentCoding(request.match_info["coding"]))
        return response

    async def dies(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"errc")
        request.transport.close()
        return web.Response()

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/busy", busy)
    app.router.add_post("/text", text)
    app.router.add_post("/slow", slow)
    app.router.add_post("/moved", moved)
    app.router.add_post("/down", down)
    app.router.add_post("/refused", refused)
    app.router.add_post("/chunked", chunked)
    app.router.add_post("/compressed/{coding}", compressed)
    app.router.add_post("/dies", dies)
    srv = TestServer(app)
    await srv.start_server(keepalive_timeout=0.3)
    yield srv, seen, bodies
    await srv.close()


async def test_a_2xx_is_parsed_and_the_connection_is_reused(server: tuple[TestServer, list, list]) -> None:
    srv, seen, bodies = server
    client = new_client(HttpSettings(max_connections=1))
    try:
        for i in range(3):
            reply = await exchange(client, HttpRequest("POST", str(srv.make_url("/ok")), f"body{i}".encode(),
                                                       {"Content-Type": "application/json", "X-Sig": f"s{i}"}))
            assert reply == HttpReply(status=200, body={"errcode": 0})
        assert bodies == [b"body0", b"body1", b"body2"]
        assert [r.headers["X-Sig"] for r in seen] == ["s0", "s1", "s2"]
        assert "User-Agent" not in seen[0].headers
        assert len({r.transport.get_extra_info("peername") for r in seen if r.transport}) == 1  # type: ignore[union-attr]
    finally:
        await client.aclose()


async def test_status_retry_after_non_json_and_no_redirects(server: tuple[TestServer, list, list]) -> None:
    srv, _, _ = server
    client = new_client(HttpSettings())
    try:
        busy = await exchange(client, HttpRequest("POST", str(srv.make_url("/busy")), b"{}"))
        assert isinstance(busy, AttemptResult)
        assert (busy.error_class, busy.http_status, busy.retry_after) == (ErrorClass.TRANSIENT, 429, 7.0)
        plain = await exchange(client, HttpRequest("POST", str(srv.make_url("/text")), b"{}"))
        assert plain == HttpReply(status=200, body=None)
        moved = await exchange(client, HttpRequest("POST", str(srv.make_url("/moved")), b"{}"))
        assert isinstance(moved, AttemptResult) and moved.http_status == 302
    finally:
        await client.aclose()


async def test_timeouts_and_refused_connections_are_transient(server: tuple[TestServer, list, list]) -> None:
    srv, _, _ = server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    client = new_client(HttpSettings(timeout=0.2))
    try:
        slow = await exchange(client, HttpRequest("POST", str(srv.make_url("/slow")), b"{}"))
        assert isinstance(slow, AttemptResult)
        assert (slow.error_class, slow.reason) == (ErrorClass.TRANSIENT, "timeout")
        refused = await exchange(client, HttpRequest("POST", f"http://127.0.0.1:{closed_port}/x?key=SECRETK", b""))
        assert isinstance(refused, AttemptResult)
        assert (refused.error_class, refused.reason) == (ErrorClass.TRANSIENT, "connection_error")
        assert "SECRETK" not in repr(refused)
        bad = await exchange(client, HttpRequest("POST", "ftp://127.0.0.1/x", b""))
        assert isinstance(bad, AttemptResult) and bad.error_class == ErrorClass.PERMANENT
    finally:
        await client.aclose()


async def test_4xx_5xx_and_retry_after(server: tuple[TestServer, list, list]) -> None:
    srv, _, _ = server
    client = new_client(HttpSettings())
    try:
        down = await exchange(client, HttpRequest("POST", str(srv.make_url("/down")), b"{}"))
        assert isinstance(down, AttemptResult)
        assert (down.error_class, down.reason, down.retry_after) == (ErrorClass.TRANSIENT, "http_503", 3.0)
        refused = await exchange(client, HttpRequest("POST", str(srv.make_url("/refused")), b"{}"))
        assert isinstance(refused, AttemptResult)
        assert (refused.error_class, refused.http_status) == (ErrorClass.PERMANENT, 401)
        missing = await exchange(client, HttpRequest("POST", str(srv.make_url("/nowhere")), b"{}"))
        assert isinstance(missing, AttemptResult) and missing.http_status == 404
    finally:
        await client.aclose()


@pytest.mark.parametrize("path", ["/chunked", "/compressed/gzip", "/compressed/deflate"])
async def test_chunked_and_compressed_answers(server: tuple[TestServer, list, list], path: str) -> None:
    srv, _, _ = server
    client = new_client(HttpSettings(max_connections=1))
    try:
        for _ in range(2):
            reply = await exchange(client, HttpRequest("POST", str(srv.make_url(path)), b"{}"))
            assert isinstance(reply, HttpReply) and reply.body["errcode"] == 0
            assert len(reply.body["pad"]) == 5000
    finally:
        await client.aclose()


async def test_a_connection_the_server_closed_while_idle_is_replaced(
        server: tuple[TestServer, list, list]) -> None:
    srv, seen, _ = server
    client = new_client(HttpSettings(max_connections=1))
    try:
        assert isinstance(await exchange(client, HttpRequest("POST", str(srv.make_url("/ok")), b"1")), HttpReply)
        await asyncio.sleep(0.8)  # past the server's keep-alive timeout (0.3 s): it closes the idle connection
        assert isinstance(await exchange(client, HttpRequest("POST", str(srv.make_url("/ok")), b"2")), HttpReply)
        assert len(seen) == 2 and seen[0][PEER] != seen[1][PEER]
    finally:
        await client.aclose()


async def test_a_server_dying_mid_answer_is_a_transient_error(server: tuple[TestServer, list, list]) -> None:
    srv, _, _ = server
    client = new_client(HttpSettings())
    try:
        lost = await exchange(client, HttpRequest("POST", str(srv.make_url("/dies")) + f"?key={SECRET}", b"{}",
                                                  {"Authorization": f"Bearer {SECRET}"}))
        assert isinstance(lost, AttemptResult)
        assert (lost.error_class, lost.reason, lost.detail) == (ErrorClass.TRANSIENT, "connection_error",
                                                                "ConnectionLost")
        assert isinstance(await exchange(client, HttpRequest("POST", str(srv.make_url("/ok")), b"{}")), HttpReply)
    finally:
        await client.aclose()


def _certificate(tmp: Path, names: list[str]) -> tuple[Path, Path]:
    """A self-signed server certificate for `names` (DNS names or IPs): (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp / f"{names[0]}.crt", tmp / f"{names[0]}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def _tls_server(cert: Path, key: Path) -> TestServer:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"errcode": 0})

    app = web.Application()
    app.router.add_post("/ok", ok)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    srv = TestServer(app)
    await srv.start_server(ssl=context)
    return srv


async def test_https_with_a_private_ca(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, ["127.0.0.1", "localhost"])
    srv = await _tls_server(cert, key)
    trusted = new_client(HttpSettings(ca_file=str(cert), max_connections=1))
    system = new_client(HttpSettings())
    try:
        url = f"https://127.0.0.1:{srv.port}/ok?key={SECRET}"
        for _ in range(2):
            reply = await exchange(trusted, HttpRequest("POST", url, b"{}"))
            assert isinstance(reply, HttpReply) and reply.body["errcode"] == 0
        untrusted = await exchange(system, HttpRequest("POST", url, b"{}"))
        assert isinstance(untrusted, AttemptResult)
        assert (untrusted.error_class, untrusted.reason) == (ErrorClass.TRANSIENT, "connection_error")
        assert SECRET not in repr(untrusted)
    finally:
        await trusted.aclose()
        await system.aclose()
        await srv.close()


def test_an_unreadable_ca_file_fails_validation(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("not a certificate")
    for path in (tmp_path / "missing.pem", tmp_path / "bad.pem"):
        with pytest.raises(ValidationError, match="ca_file"):
            HttpSettings(ca_file=str(path))


async def test_https_checks_the_hostname(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, ["other.example"])
    srv = await _tls_server(cert, key)
    client = new_client(HttpSettings(ca_file=str(cert)))
    try:
        wrong = await exchange(client, HttpRequest("POST", f"https://127.0.0.1:{srv.port}/ok", b"{}"))
        assert isinstance(wrong, AttemptResult) and wrong.reason == "connection_error"
    finally:
        await client.aclose()
        await srv.close()


async def test_a_proxy_goes_through_aiohttp() -> None:
    targets: list[str] = []

    async def forward(request: web.Request) -> web.Response:  # a forward proxy that answers itself
        targets.append(str(request.url))
        return web.json_response({"errcode": 0})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    proxy = TestServer(app)
    await proxy.start_server()
    client = new_client(HttpSettings(proxy=str(proxy.make_url("/"))))
    try:
        reply = await exchange(client, HttpRequest("POST", "http://receiver.invalid/hook", b"{}"))
        assert reply == HttpReply(status=200, body={"errcode": 0})
        assert targets == ["http://receiver.invalid/hook"]  # the absolute form a proxy is sent
    finally:
        await client.aclose()
        await proxy.close()


def test_the_client_repr_holds_no_secret() -> None:
    client = PooledClient(HttpSettings(proxy=f"http://user:{SECRET}@proxy.invalid:3128"))
    assert SECRET not in repr(client)
