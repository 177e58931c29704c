"""The HTTP exchange every sink performs: a prepared request whose URL and headers may hold credentials
(never shown in reprs), one call on the sink's pooled client, and the response reduced to status, parsed JSON
and Retry-After.

The default client is aiohttp's (one ClientSession per sink, so one connection pool per destination): a POST
costs ~0.2 ms of CPU there against ~0.85 ms through httpx even with sniffio installed (~1.7 ms without it,
since httpcore retries `import sniffio` on every request; measured in ops/bench/profiles/README.md). An
httpx.AsyncClient passed in (tests use httpx.MockTransport) still works through the same `exchange`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from pipeline.sinks.delivery.errors import AttemptResult, classify_exception, classify_http_status


class HttpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connect_timeout: float = Field(5.0, gt=0, description="seconds to open a connection")
    timeout: float = Field(10.0, gt=0, description="seconds for one request's read/write")
    max_connections: int = Field(10, ge=1, description="connection pool size of this sink's client")
    proxy: str | None = Field(None, description="HTTP(S) proxy URL, e.g. for a fixed egress IP (WeCom 60020)")


class PooledClient:
    """One aiohttp ClientSession (keep-alive pool of `max_connections`), opened on first use so a sink can be
    built outside the event loop; no environment proxies, no redirects, no cookies."""

    def __init__(self, settings: HttpSettings) -> None:
        self._settings = settings
        self._timeout = aiohttp.ClientTimeout(total=None, connect=settings.connect_timeout,
                                              sock_connect=settings.connect_timeout, sock_read=settings.timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._settings.max_connections),
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
    except (TimeoutError, httpx.HTTPError, aiohttp.ClientError) as exc:
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
