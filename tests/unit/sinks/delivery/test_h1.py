"""The sinks' own HTTP/1.1 client against scripted TCP servers: the framings a peer may answer with, what happens
to a connection after each, the pool's bound, failures mid-way (never silently resent) and secrets kept out of
every error text. Each test runs on asyncio's loop and on uvloop (the delivery workers' loop; see conftest.py)."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from pipeline.sinks.delivery import _h1
from pipeline.sinks.delivery.http import HttpRequest

SECRET = "s3cr3t-KEY"
Script = Callable[["Peer", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Peer:
    """A scripted server: `script` runs once per accepted connection."""

    script: Script
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    open: int = 0
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}?key={SECRET}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        try:
            await self.script(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.open -= 1
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


@pytest.fixture
async def peer() -> AsyncIterator[Callable[[Script], Awaitable[Peer]]]:
    peers: list[Peer] = []

    async def start(script: Script) -> Peer:
        p = Peer(script)
        p.server = await asyncio.start_server(p.handle, "127.0.0.1", 0)
        peers.append(p)
        return p

    yield start
    for p in peers:
        assert p.server is not None
        p.server.close()


async def eventually(condition: Callable[[], object], seconds: float = 10.0) -> None:
    """Yield to the loop until `condition()` holds (a bound for a loaded machine, not a timing assertion)."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true")


def client(limit: int = 4, timeout: float = 5.0, connect_timeout: float = 5.0,
           max_body: int = _h1.MAX_BODY) -> _h1.Client:
    return _h1.Client(limit=limit, connect_timeout=connect_timeout, timeout=timeout, max_body=max_body)


def post(url: str, body: bytes = b'{"a":1}', headers: dict[str, str] | None = None,
         method: str = "POST") -> HttpRequest:
    return HttpRequest(method, url, body, {"Content-Type": "application/json", **(headers or {})})


def answering(*responses: bytes, close: bool = False) -> Script:
    """Answer each request on a connection with the next of `responses` (cycling); optionally close after one."""

    async def script(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        i = 0
        while True:
            await p.read_request(reader)
            writer.write(responses[i % len(responses)])
            await writer.drain()
            i += 1
            if close:
                return

    return script


OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{"errcode":0}'


async def test_one_write_per_request_with_fixed_and_given_headers(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    p = await peer(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    c = client()
    try:
        result = await c.request(post(p.url("/a path/ü"), b"{}", {"X-Sig": "v1"}))
        assert result == (200, None, b"ok")
        head, _, body = p.requests[0].partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        assert lines[0] == f"POST /a%20path/%C3%BC?key={SECRET} HTTP/1.1".encode()
        assert set(lines[1:]) == {f"Host: 127.0.0.1:{p.port}".encode(), b"Accept: */*",
                                  b"Accept-Encoding: gzip, deflate", b"Content-Type: application/json",
                                  b"X-Sig: v1", b"Content-Length: 2"}
        assert body == b"{}"
        get = await c.request(post(p.url(), b"", method="GET"))
        assert get[0] == 200 and b"content-length" not in p.requests[1].lower()
    finally:
        await c.aclose()


async def test_keep_alive_reuse_and_the_pool_bound(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    gate = asyncio.Event()
    in_flight = 0
    most = 0

    async def script(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal in_flight, most
        while True:
            await p.read_request(reader)
            in_flight += 1
            most = max(most, in_flight)
            await gate.wait()
            in_flight -= 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    p = await peer(script)
    c = client(limit=2)
    try:
        tasks = [asyncio.create_task(c.request(post(p.url()))) for _ in range(6)]
        await eventually(lambda: in_flight == 2)
        for _ in range(20):  # the other four stay queued in the pool, no third connection opens
            await asyncio.sleep(0)
        assert (in_flight, p.connections) == (2, 2)
        gate.set()
        assert [r[0] for r in await asyncio.gather(*tasks)] == [200] * 6
        assert (most, p.connections, len(p.requests)) == (2, 2, 6)
        for _ in range(3):  # sequential requests reuse one idle connection
            await c.request(post(p.url()))
        assert p.connections == 2
    finally:
        await c.aclose()


@pytest.mark.parametrize(("response", "body"), [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n", b'{"a":1}'),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"a\":1}", b'{"a":1}'),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok"),
    (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
    (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\n\r\n", b""),
])
async def test_framings_that_keep_the_connection(peer: Callable[[Script], Awaitable[Peer]], response: bytes,
                                                 body: bytes) -> None:
    p = await peer(answering(response))
    c = client()
    try:
        for _ in range(3):
            status, _, content = await c.request(post(p.url()))
            assert (status >= 200, content) == (True, body)
        assert p.connections == 1
    finally:
        await c.aclose()


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.0 200 OK\r\n\r\nok",  # close-delimited: the body ends at EOF
    b"HTTP/1.1 200 OK\r\n\r\nok",
])
async def test_framings_that_end_the_connection(peer: Callable[[Script], Awaitable[Peer]], response: bytes) -> None:
    p = await peer(answering(response, close=True))
    c = client()
    try:
        for _ in range(3):
            assert await c.request(post(p.url())) == (200, None, b"ok")
        assert p.connections == 3
    finally:
        await c.aclose()


async def test_head_answers_at_the_headers(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    p = await peer(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"))
    c = client()
    try:
        assert await c.request(post(p.url(), b"", method="HEAD")) == (200, None, b"")
        assert await c.request(post(p.url(), b"", method="HEAD")) == (200, None, b"")
        assert p.connections == 2  # a HEAD's connection is not reused
    finally:
        await c.aclose()


@pytest.mark.parametrize(("coding", "encode"), [
    (b"gzip", gzip.compress), (b"deflate", zlib.compress),
    (b"deflate", lambda b: zlib.compress(b)[2:-4])])  # raw deflate, as some servers send it
async def test_compressed_bodies_are_decoded(peer: Callable[[Script], Awaitable[Peer]], coding: bytes,
                                             encode: Callable[[bytes], bytes]) -> None:
    payload = encode(b'{"errcode":0}' * 50)
    p = await peer(answering(b"HTTP/1.1 200 OK\r\nContent-Encoding: " + coding + b"\r\nContent-Length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload))
    c = client()
    try:
        assert await c.request(post(p.url())) == (200, None, b'{"errcode":0}' * 50)
    finally:
        await c.aclose()


async def test_bodies_over_the_bound_fail(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    bomb = gzip.compress(b"0" * 10_000)
    p = await peer(answering(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"40\r\n" + b"x" * 64 + b"\r\n" +
        b"40\r\n" + b"x" * 64 + b"\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + str(len(bomb)).encode() + b"\r\n\r\n"
        + bomb))
    c = client(max_body=100)
    try:
        with pytest.raises(_h1.ResponseTooLarge):
            await c.request(post(p.url()))
        with pytest.raises(_h1.ResponseTooLarge):
            await c.request(post(p.url()))
    finally:
        await c.aclose()


@pytest.mark.parametrize("response", [
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok",
    b"SSH-2.0-OpenSSH_9.2\r\n",
])
async def test_answers_that_are_not_http_fail(peer: Callable[[Script], Awaitable[Peer]], response: bytes) -> None:
    p = await peer(answering(response))
    c = client()
    try:
        with pytest.raises(_h1.ProtocolError):
            await c.request(post(p.url()))
        big = b"b" * 200_000  # a large body arriving with the head is not a large head
        p.script = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n" + big)
        assert await c.request(post(p.url())) == (200, None, big)
    finally:
        await c.aclose()


async def test_a_head_that_never_ends_is_bounded(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    async def endless(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await p.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for i in range(1000):  # 8 MB of headers at most, a header line per write
            writer.write(b"X-Pad-%d: " % i + b"p" * 8000 + b"\r\n")
            await writer.drain()
            await asyncio.sleep(0.001)

    p = await peer(endless)
    c = client()
    try:
        with pytest.raises(_h1.ProtocolError):
            await c.request(post(p.url()))
    finally:
        await c.aclose()


async def test_a_server_dying_mid_response_is_lost_and_not_resent(
        peer: Callable[[Script], Awaitable[Peer]]) -> None:
    async def half(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await p.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"errc")
        await writer.drain()

    async def mute(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await p.read_request(reader)

    for script in (half, mute):
        p = await peer(script)
        c = client()
        try:
            with pytest.raises(_h1.ConnectionLost) as raised:
                await c.request(post(p.url()))
            assert SECRET not in str(raised.value) and raised.value.__cause__ is None
            assert (p.connections, len(p.requests)) == (1, 1)  # read once: never resent on another connection
        finally:
            await c.aclose()


async def test_an_idle_connection_the_server_closed_is_not_used(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    p = await peer(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close=True))  # no Connection: close
    c = client()
    try:
        assert await c.request(post(p.url())) == (200, None, b"ok")
        await eventually(lambda: p.open == 0)  # until the loop has seen the server's FIN on the idle connection
        await asyncio.sleep(0.05)
        assert await c.request(post(p.url())) == (200, None, b"ok")
        assert (p.connections, len(p.requests)) == (2, 2)
    finally:
        await c.aclose()


async def test_unsolicited_bytes_on_an_idle_connection_drop_it(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    async def script(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await p.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    p = await peer(script)
    c = client()
    try:
        assert await c.request(post(p.url())) == (200, None, b"ok")
        await eventually(lambda: p.open == 0)  # the client closed the connection the 408 arrived on
        assert await c.request(post(p.url())) == (200, None, b"ok")
        assert p.connections == 2
    finally:
        await c.aclose()


async def test_timeouts(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    async def silent(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers (nor completes a TLS handshake)

    p = await peer(silent)
    c = client(timeout=0.2, connect_timeout=0.2)
    try:
        with pytest.raises(TimeoutError):
            await c.request(post(p.url()))
        assert p.connections == 1
        with pytest.raises(TimeoutError):  # connect_timeout covers the TLS handshake
            await c.request(post(p.url().replace("http://", "https://")))
        assert p.connections == 2
    finally:
        await c.aclose()


async def test_refused_and_invalid_requests(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    p = await peer(answering(OK))
    port = p.port
    assert p.server is not None
    p.server.close()
    await p.server.wait_closed()
    c = client()
    try:
        with pytest.raises(_h1.ConnectError) as refused:
            await c.request(post(f"http://127.0.0.1:{port}/x?key={SECRET}"))
        assert SECRET not in str(refused.value) and refused.value.__cause__ is None
        bad: list[HttpRequest] = [
            post(f"ftp://127.0.0.1/x?key={SECRET}"), post(f"http://127.0.0.1:99999/?key={SECRET}"),
            post(f"http://127.0.0.1:{port}/x", headers={"X-Sig": f"{SECRET}\r\nX-Evil: 1"}),
            post(f"http://127.0.0.1:{port}/x", headers={"Bad Name": SECRET}),
            post(f"http://127.0.0.1:{port}/x", headers={"content-length": "5"}),
            post(f"http://127.0.0.1:{port}/x", method="PO ST")]
        for request in bad:
            with pytest.raises(_h1.InvalidRequest) as invalid:
                await c.request(request)
            assert SECRET not in str(invalid.value)
    finally:
        await c.aclose()


async def test_cancelling_a_request_frees_its_place(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    gate = asyncio.Event()

    async def script(p: Peer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await p.read_request(reader)
            if len(p.requests) == 1:
                await gate.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()

    p = await peer(script)
    c = client(limit=1)
    try:
        first = asyncio.create_task(c.request(post(p.url())))
        queued = asyncio.create_task(c.request(post(p.url())))
        await eventually(lambda: p.requests)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert await queued == (200, None, b"ok")  # on a new connection: the cancelled one was out of step
        assert p.connections == 2
    finally:
        gate.set()
        await c.aclose()


async def test_aclose_closes_every_connection(peer: Callable[[Script], Awaitable[Peer]]) -> None:
    p = await peer(answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
    c = client(limit=3)
    await asyncio.gather(*(c.request(post(p.url())) for _ in range(3)))
    assert p.open == 3
    await c.aclose()
    await eventually(lambda: p.open == 0)  # the server saw every connection closed
    assert await c.request(post(p.url())) == (200, None, b"ok")  # usable again, like a reopened session
    await c.aclose()


def test_reprs_hold_no_url_or_header() -> None:
    c = client()
    route = _h1._Route(f"https://user:{SECRET}@example.com/hook?key={SECRET}")
    assert SECRET not in repr(c) and SECRET not in repr(route)
    assert route.origin == ("https", "example.com", 443)
