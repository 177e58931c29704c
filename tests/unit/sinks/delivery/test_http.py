"""The default HTTP client (one aiohttp pool per sink) against a local server: the reply shape, Retry-After,
header pass-through and the error classes the sinks act on."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass
from pipeline.sinks.delivery.http import HttpReply, HttpRequest, HttpSettings, exchange, new_client


@pytest.fixture
async def server() -> AsyncIterator[tuple[TestServer, list[web.Request], list[bytes]]]:
    seen: list[web.Request] = []
    bodies: list[bytes] = []

    async def ok(request: web.Request) -> web.Response:
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

    app = web.Application()
    app.router.add_post("/ok", ok)
    app.router.add_post("/busy", busy)
    app.router.add_post("/text", text)
    app.router.add_post("/slow", slow)
    app.router.add_post("/moved", moved)
    srv = TestServer(app)
    await srv.start_server()
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
