"""A lean HTTP/1.1 keep-alive client for the delivery sinks' direct http:// and https:// destinations.

Why: an alert burst makes the delivery process CPU-bound, and aiohttp's client request/response machinery was a
third of its CPU per notification (114-143 us per POST with uvloop). This client does only what a sink needs on
`asyncio.Protocol` connections with httptools (llhttp, the parser uvicorn uses) reading the responses; the
numbers are in pyproject.toml's comment on httptools and `ops/bench/http_client.py`.

What it does (and deliberately does not):
- One pool per client (one client per sink, so per destination) of at most `limit` connections over all the
  origins it talks to; idle keep-alive connections are reused newest first and closed after `KEEPALIVE` seconds
  idle (aiohttp's default). TCP_NODELAY on every connection. TLS for https:// with the given context
  (certificate and hostname checked, SNI sent).
- One `transport.write` per request: request line, headers and body joined; the request line, Host and fixed
  headers are built once per (method, URL) and cached. Header names and values are checked for CR/LF/NUL;
  Host, Content-Length, Transfer-Encoding and Connection are the client's own (Accept and Accept-Encoding given
  by a caller are sent next to the fixed ones).
- Responses: Content-Length, chunked, close-delimited (HTTP/1.0 peers, no length), `Connection: close` (the
  connection is not reused), 1xx skipped, 204/304 without body, HEAD (answered at the headers; that connection
  is not reused), gzip/deflate Content-Encoding decoded (`Accept-Encoding: gzip, deflate` is sent, as aiohttp
  did). A body (compressed or decoded) over `max_body` bytes fails with `ResponseTooLarge`, a head over
  `MAX_HEAD` bytes with `ProtocolError`.
- Timeouts: `connect_timeout` covers the TCP connect and TLS handshake, `timeout` the request from its write to
  the last byte of the response; both raise TimeoutError and the connection is dropped.
- Never retried. A request is written at most once, on one connection. The one safe case handled here is a
  pooled idle connection that the server closed (EOF or reset seen while idle, unsolicited bytes, or idle past
  `KEEPALIVE`): it is dropped before use, never written to, and another idle or a fresh connection is taken.
  A connection lost after the write is `ConnectionLost` whatever the method, even with no response byte: the
  server may have read and acted on the request, so the sink's retry policy decides (deliveries are idempotent
  by X-Exmail-Idempotency-Key).
- No proxies (`PooledClient` keeps aiohttp for `HttpSettings.proxy`), no environment settings, no redirects
  followed, no cookies, no Content-Type added (every sink sets its own).
- Secrets: URLs and headers may hold keys and tokens. No repr, log line or exception message here holds either:
  exceptions carry fixed texts and exception class names, and are raised `from None`.
"""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import ssl
import zlib
from collections import deque
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import quote, unquote, urlsplit

import httptools

KEEPALIVE = 15.0
"""Seconds an idle connection is kept (aiohttp's default). A server that closes sooner (Node and uvicorn: 5 s) is
seen closing by the loop, and the connection is dropped before use."""
MAX_BODY = 8 * 1024 * 1024
"""A response body (before and after decoding) larger than this fails the request instead of filling memory."""

MAX_HEAD = 64 * 1024
"""Bytes a response may send before its headers end, checked per read (llhttp itself sets no bound)."""

_ROUTE_CACHE = 256  # distinct URLs cached per client (a WeCom app's token changes its URL every ~2 h)
_BODYLESS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})  # no Content-Length unless a body is given
_RESERVED = frozenset({"host", "content-length", "transfer-encoding", "connection"})  # the client's own
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(r"[\r\n\0]")
_PATH_SAFE = "!$%&'()*+,/:;=?@[]~"  # keeps reserved characters and existing %XX escapes; quotes the rest


class Request(Protocol):
    """What a request is made of (pipeline.sinks.delivery.http.HttpRequest)."""

    @property
    def method(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def content(self) -> bytes: ...


class TransportError(Exception):
    """A request failed below HTTP. The message is fixed text: never the URL or a header."""


class InvalidRequest(TransportError):
    """The request cannot be sent (scheme not http/https, bad port, CR/LF in a header): sending again cannot help."""


class ConnectError(TransportError):
    """No connection could be opened (refused, unreachable, DNS, TLS handshake or certificate)."""


class ConnectionLost(TransportError):
    """The connection closed or was reset before the whole response arrived (the request may have been acted on)."""


class ProtocolError(TransportError):
    """The answer is not valid HTTP/1.x, or its body cannot be decoded."""


class ResponseTooLarge(ProtocolError):
    """The response body exceeds the client's bound."""


class _Route:
    """What one URL needs, parsed once: its origin and the request head up to the per-request headers.
    No repr of its own: the target and an Authorization header from the URL's userinfo may be secret."""

    __slots__ = ("_fixed", "_heads", "_target", "origin")

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidRequest("the URL cannot be parsed") from None
        scheme = parts.scheme.lower()
        host = parts.hostname or ""
        if scheme not in ("http", "https") or not host:
            raise InvalidRequest("only http:// and https:// URLs with a host are supported")
        if not host.isascii():
            try:
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise InvalidRequest("the URL's host is not a valid domain name") from None
        default = 443 if scheme == "https" else 80
        self.origin: tuple[str, str, int] = (scheme, host, port or default)
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        self._target = quote(target, safe=_PATH_SAFE)
        host_header = f"[{host}]" if ":" in host else host
        if port is not None and port != default:
            host_header = f"{host_header}:{port}"
        fixed = f"Host: {host_header}\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\n"
        if parts.username is not None:
            userinfo = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            fixed += f"Authorization: Basic {base64.b64encode(userinfo).decode('ascii')}\r\n"
        if _BAD_VALUE.search(host) or " " in host:
            raise InvalidRequest("the URL's host holds a control character")
        self._fixed = fixed
        self._heads: dict[str, str] = {}

    def head(self, method: str) -> str:
        head = self._heads.get(method)
        if head is None:
            if not _TOKEN.fullmatch(method):
                raise InvalidRequest("the method is not an HTTP token")
            head = self._heads[method] = f"{method} {self._target} HTTP/1.1\r\n{self._fixed}"
        return head


class _Conn(asyncio.Protocol):
    """One connection and the parser of its responses; one request at a time."""

    __slots__ = ("_chunks", "_done", "_encoding", "_framed", "_head_only", "_head_size", "_headers_done", "_loop",
                 "_max_body", "_parser", "_retry_after", "_size", "_status", "_waiter", "idle_since", "lost",
                 "origin", "reusable", "transport")

    def __init__(self, origin: tuple[str, str, int], loop: asyncio.AbstractEventLoop, max_body: int) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.lost = False  # closed by either side, reset, or unusable: never written to again
        self.idle_since = 0.0
        self.reusable = True
        self._loop = loop
        self._max_body = max_body
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[tuple[int, bytes | None, bytes, bytes | None]] | None = None
        self._reset(head_only=False)

    def _reset(self, *, head_only: bool) -> None:
        self._status = 0
        self._retry_after: bytes | None = None
        self._encoding: bytes | None = None
        self._framed = False  # Content-Length or Transfer-Encoding seen: EOF before the end is a loss
        self._chunks: list[bytes] = []
        self._size = 0
        self._head_only = head_only
        self._headers_done = False
        self._head_size = 0
        self._done = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except (OSError, AttributeError):  # not TCP (tests on a Unix socket)
                pass

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._done:  # bytes nobody asked for (e.g. a 408 before an idle close)
            self._drop()
            return
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._fail(ProtocolError("malformed HTTP response (or a protocol upgrade)"))
            return
        if not self._headers_done and not self._done:
            self._head_size += len(data)
            if self._head_size > MAX_HEAD:
                self._fail(ProtocolError("the response head exceeds the client's limit"))

    def eof_received(self) -> bool | None:
        self.lost = True
        return None  # let the transport close; connection_lost settles the waiter

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is None and self._headers_done and not self._framed and not self._head_only:
            self._finish()  # a close-delimited body (HTTP/1.0 style) ends at EOF
        else:
            waiter.set_exception(ConnectionLost("the connection closed before the whole response arrived"))

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name)
        if size == 11 and name.lower() == b"retry-after":
            self._retry_after = value
        elif size == 16 and name.lower() == b"content-encoding":
            self._encoding = value
        elif (size == 14 and name.lower() == b"content-length") or \
                (size == 17 and name.lower() == b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        if self._done:  # a second response to one request
            self._fail(ProtocolError("unexpected response bytes"))
            return
        self._headers_done = True
        self._status = self._parser.get_status_code()
        if self._head_only and self._status >= 200:
            self.reusable = False  # llhttp would wait for the body a HEAD answer announces but never sends
            self._finish()

    def on_body(self, body: bytes) -> None:
        if self._done:
            return
        self._size += len(body)
        if self._size > self._max_body:
            self._fail(ResponseTooLarge("the response body exceeds the client's limit"))
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        if self._done:
            return
        if self._status < 200:  # 1xx: an interim answer, the real one follows
            self._reset(head_only=self._head_only)
            return
        if not self._parser.should_keep_alive():
            self.reusable = False
        self._finish()

    # -- the client's side
    def _finish(self) -> None:
        self._done = True
        chunks = self._chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((self._status, self._retry_after, body, self._encoding))

    def _fail(self, exc: BaseException) -> None:
        self._done = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self._drop()

    def _drop(self) -> None:
        self.lost = True
        if self.transport is not None:
            self.transport.close()

    def _timed_out(self) -> None:
        self._fail(TimeoutError())

    async def send(self, data: bytes, seconds: float, *,
                   head_only: bool) -> tuple[int, bytes | None, bytes, bytes | None]:
        """Write one request and wait for its response: (status, Retry-After, raw body, Content-Encoding).
        The deadline is a plain timer on the loop, cheaper per request than `asyncio.timeout`."""
        self._reset(head_only=head_only)
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(seconds, self._timed_out)
        assert self.transport is not None
        self.transport.write(data)
        try:
            return await waiter
        finally:
            timer.cancel()
            self._waiter = None
            if not self._done:  # cancelled or failed mid-way: the stream is out of step
                self.reusable = False

    def close(self) -> None:
        self._drop()


class Client:
    """The connection pool and the request path. Built outside the event loop; bound to the loop of its first
    request. `request` returns (status, Retry-After text, decoded body) or raises TimeoutError / TransportError."""

    def __init__(self, *, limit: int, connect_timeout: float, timeout: float,
                 ssl_context: ssl.SSLContext | None = None, max_body: int = MAX_BODY) -> None:
        self._limit = limit
        self._connect_timeout = connect_timeout
        self._timeout = timeout
        self._ssl = ssl_context
        self._max_body = max_body
        self._routes: dict[str, _Route] = {}
        self._names: dict[str, None] = {}  # header names already checked
        self._idle: dict[tuple[str, str, int], list[_Conn]] = {}
        self._conns: set[_Conn] = set()
        self._opening = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"Client(limit={self._limit}, open={len(self._conns)})"

    async def request(self, request: Request) -> tuple[int, str | None, bytes]:
        url, method, body = request.url, request.method, request.content
        route = self._routes.get(url)
        if route is None:
            route = self._route(url)
        data = self._encode(route.head(method), request.headers, body, method)
        conn = await self._acquire(route.origin)
        result = None
        try:
            result = await conn.send(data, self._timeout, head_only=method == "HEAD")
        finally:
            self._release(conn, result is not None)
        status, retry_after, content, encoding = result
        if encoding is not None and content:
            content = _decode(content, encoding, self._max_body)
        return status, retry_after.decode("latin-1") if retry_after is not None else None, content

    async def aclose(self) -> None:
        """Close every connection, idle or in use (a request in flight fails with ConnectionLost)."""
        for idle in self._idle.values():
            while idle:
                self._discard(idle.pop())
        for conn in list(self._conns):
            conn.close()
        await asyncio.sleep(0)  # let the transports run their close callbacks

    # -- requests
    def _route(self, url: str) -> _Route:
        route = _Route(url)
        if len(self._routes) >= _ROUTE_CACHE:
            self._routes.clear()
        self._routes[url] = route
        return route

    def _encode(self, head: str, headers: Mapping[str, str], body: bytes, method: str) -> bytes:
        if headers and _BAD_VALUE.search("".join(headers.values())) is not None:
            raise InvalidRequest("a header value holds CR, LF or NUL")
        names = self._names
        lines = [head]
        for name, value in headers.items():
            if name not in names:
                self._check_name(name)
            lines.append(f"{name}: {value}\r\n")
        if body or method not in _BODYLESS:
            lines.append(f"Content-Length: {len(body)}\r\n")
        lines.append("\r\n")
        return "".join(lines).encode() + body

    def _check_name(self, name: str) -> None:
        if not _TOKEN.fullmatch(name):
            raise InvalidRequest("a header name is not an HTTP token")
        if name.lower() in _RESERVED:
            raise InvalidRequest("Host, Content-Length, Transfer-Encoding and Connection are set by the client")
        if len(self._names) < 1024:
            self._names[name] = None

    # -- the pool
    async def _acquire(self, origin: tuple[str, str, int]) -> _Conn:
        loop = self._loop = asyncio.get_running_loop()  # cheap; a sink reopened in tests may be on a new loop
        while True:
            idle = self._idle.get(origin)
            if idle:
                now = loop.time()
                while idle:
                    conn = idle.pop()
                    if not conn.lost and now - conn.idle_since < KEEPALIVE and conn.transport is not None \
                            and not conn.transport.is_closing():
                        return conn
                    self._discard(conn)
            if len(self._conns) + self._opening < self._limit:
                return await self._connect(origin)
            if self._evict_idle():
                continue
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                try:
                    self._waiters.remove(waiter)
                except ValueError:  # it had been woken: pass the turn on
                    self._wake()
                raise

    async def _connect(self, origin: tuple[str, str, int]) -> _Conn:
        scheme, host, port = origin
        loop = self._loop
        assert loop is not None
        context = (self._ssl or _default_context()) if scheme == "https" else None
        self._opening += 1
        conn: _Conn | None = None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Conn(origin, loop, self._max_body), host, port, ssl=context,
                    server_hostname=host if context is not None else None)
        except TimeoutError:  # an OSError too: keep it a timeout
            raise TimeoutError("connect timed out") from None
        except ssl.SSLError as exc:
            raise ConnectError(f"TLS handshake failed: {exc.reason or type(exc).__name__}") from None
        except OSError as exc:
            raise ConnectError(f"connect failed: {type(exc).__name__}") from None
        finally:
            self._opening -= 1
            if conn is None and self._waiters:
                self._wake()  # a failed open leaves room for a waiter
        self._conns.add(conn)
        return conn

    def _release(self, conn: _Conn, completed: bool) -> None:
        if not completed or conn.lost or not conn.reusable:
            self._discard(conn)
            return
        assert self._loop is not None
        conn.idle_since = now = self._loop.time()
        idle = self._idle.get(conn.origin)
        if idle is None:
            idle = self._idle[conn.origin] = []
        elif idle and now - idle[0].idle_since >= KEEPALIVE:  # the oldest has idled too long: close it
            self._discard(idle.pop(0))
        idle.append(conn)
        if self._waiters:
            self._wake()

    def _discard(self, conn: _Conn) -> None:
        conn.close()
        self._conns.discard(conn)
        if self._waiters:
            self._wake()

    def _evict_idle(self) -> bool:
        """The pool is full of other origins' connections: close one idle one to make room."""
        for idle in self._idle.values():
            if idle:
                self._discard(idle.pop(0))
                return True
        return False

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


_DEFAULT_CONTEXT: ssl.SSLContext | None = None


def _default_context() -> ssl.SSLContext:
    """The system's CAs, hostname check on; built once (loading the CA store costs milliseconds)."""
    global _DEFAULT_CONTEXT
    if _DEFAULT_CONTEXT is None:
        _DEFAULT_CONTEXT = ssl.create_default_context()
    return _DEFAULT_CONTEXT


def _decode(body: bytes, coding: bytes, limit: int) -> bytes:
    """A gzip or deflate body decoded (at most `limit` bytes out); identity passed through."""
    name = coding.strip().lower()
    if name in (b"", b"identity"):
        return body
    if name in (b"gzip", b"x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif name == b"deflate":  # zlib-wrapped per the RFC, raw deflate from some servers
        zlib_header = len(body) >= 2 and body[0] & 0x0F == 8 and ((body[0] << 8) | body[1]) % 31 == 0
        wbits = zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS
    else:
        raise ProtocolError("unsupported Content-Encoding")
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(body, limit + 1)
    except zlib.error:
        raise ProtocolError("the compressed body is corrupt") from None
    if len(out) > limit:
        raise ResponseTooLarge("the decoded response body exceeds the client's limit")
    return out
