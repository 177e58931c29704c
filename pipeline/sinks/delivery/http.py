"""The HTTP exchange every sink performs: a prepared request whose URL and headers may hold credentials
(never shown in reprs), one call on the sink's pooled client, and the response reduced to status, parsed JSON
and Retry-After.

The default client (`PooledClient`, one per sink, so one connection pool per destination) sends direct http://
and https:// requests through `_h1`, a lean HTTP/1.1 keep-alive client on asyncio.Protocol + httptools: 44 us of
CPU per POST against 113 us through aiohttp's client (ops/bench/http_client.py, uvloop, same run) and ~1,000 us
through httpx (ops/bench/profiles/README.md). With `proxy` set it goes through aiohttp's client instead
(proxies, CONNECT tunnels and their auth are aiohttp's to get right). An httpx.AsyncClient passed in (tests use
httpx.MockTransport) still works through the same `exchange`."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.sinks.delivery import _h1
from pipeline.sinks.delivery.errors import AttemptResult, classify_exception, classify_http_status


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect_timeout: float = Field(5.0, gt=0, description="seconds to open a connection (TCP + TLS handshake)")
    timeout: float = Field(10.0, gt=0, description="seconds for one request, from its write to the response's end")
    max_connections: int = Field(10, ge=1, description="connection pool size of this sink's client")
    proxy: str | None = Field(None, description="HTTP(S) proxy URL, e.g. for a fixed egress IP (WeCom 60020)")
    ca_file: str | None = Field(None, description="PEM file of the CAs to trust for https:// instead of the "
                                                  "system's (a private CA, e.g. an in-house webhook receiver)")

    @field_validator("ca_file")
    @classmethod
    def _loadable(cls, value: str | None) -> str | None:
        """A CA file that cannot be read fails the config check, not the first https:// request."""
        if value is not None:
            try:
                ssl.create_default_context(cafile=value)
            except (OSError, ssl.SSLError, ValueError) as exc:
                raise ValueError(f"cannot load CA certificates from {value!r} ({type(exc).__name__})") from None
        return value

    def ssl_context(self) -> ssl.SSLContext | None:
        """The context for https:// (certificate and hostname checked); None means the system default."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None


_Fetch = Callable[["HttpRequest"], Awaitable[tuple[int, str | None, bytes]]]


class PooledClient:
    """A sink's HTTP client: a keep-alive pool of `max_connections`, opened on first use so a sink can be built
    outside the event loop; no environment proxies, no redirects, no cookies. `request` returns (status,
    Retry-After header, body) or raises TimeoutError / `_h1.TransportError` (aiohttp.ClientError via a proxy)."""

    def __init__(self, settings: HttpSettings) -> None:
        self._settings = settings
        self._direct: _h1.Client | None = None
        self._proxied: _ProxiedClient | None = None
        self.request: _Fetch
        if settings.proxy:
            self._proxied = _ProxiedClient(settings)
            self.request = self._proxied.request
        else:
            self._direct = _h1.Client(limit=settings.max_connections, connect_timeout=settings.connect_timeout,
                                      timeout=settings.timeout, ssl_context=settings.ssl_context())
            self.request = self._direct.request

    def __repr__(self) -> str:
        return f"PooledClient(max_connections={self._settings.max_connections}, proxied={self._proxied is not None})"

    async def aclose(self) -> None:
        if self._direct is not None:
            await self._direct.aclose()
        if self._proxied is not None:
            await self._proxied.aclose()


class _ProxiedClient:
    """One aiohttp ClientSession (keep-alive pool of `max_connections`) for a sink whose requests go through
    an HTTP(S) proxy."""

    def __init__(self, settings: HttpSettings) -> None:
        self._settings = settings
        self._timeout = aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout,
                                              sock_connect=settings.connect_timeout, sock_read=settings.timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            context = self._settings.ssl_context()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._settings.max_connections,
                                               ssl=context if context is not None else True),
                timeout=self._timeout, trust_env=False, auto_decompress=True,
                cookie_jar=aiohttp.DummyCookieJar(), skip_auto_headers=("User-Agent",))
        return self._session

    async def request(self, request: HttpRequest) -> tuple[int, str | None, bytes]:
        """(status, Retry-After header, body); raises aiohttp.ClientError / TimeoutError like aiohttp does."""
        async with self._open().request(request.method, request.url, data=request.content,
                                        headers=request.headers, allow_redirects=False,
                                        proxy=self._settings.proxy) as response:
            body = await response.read()
            return response.status, response.headers.get("retry-after"), body

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


HttpClient = PooledClient | httpx.AsyncClient


def new_client(settings: HttpSettings) -> PooledClient:
    return PooledClient(settings)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    url: str = field(repr=False)
    content: bytes = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    label: str = ""


@dataclass(frozen=True, slots=True)
class HttpReply:
    status: int
    body: Any
    retry_after: float | None = None


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def exchange(client: HttpClient, request: HttpRequest) -> HttpReply | AttemptResult:
    """Perform `request`. A transport failure or non-2xx status comes back as an AttemptResult; a 2xx as an
    HttpReply with the body parsed as JSON (None when it is not JSON)."""
    try:
        if isinstance(client, PooledClient):
            status, retry_header, content = await client.request(request)
        else:
            response = await client.request(request.method, request.url, content=request.content,
                                            headers=dict(request.headers))
            status, retry_header, content = response.status_code, response.headers.get("retry-after"), \
                response.content
    except (TimeoutError, _h1.TransportError, httpx.HTTPError, aiohttp.ClientError) as exc:
        return classify_exception(exc)
    retry_after = _retry_after(retry_header)
    failed = classify_http_status(status, retry_after)
    if failed is not None:
        return failed
    try:
        body = orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        body = None
    return HttpReply(status=status, body=body, retry_after=retry_after)


def json_bytes(obj: Any) -> bytes:
    return orjson.dumps(obj)
