"""The HTTP exchange every sink performs: a prepared request whose URL and headers may hold credentials
(never shown in reprs), one httpx call, and the response reduced to status, parsed JSON and Retry-After."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


def new_client(settings: HttpSettings) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        limits=httpx.Limits(max_connections=settings.max_connections,
                            max_keepalive_connections=settings.max_connections),
        proxy=settings.proxy, follow_redirects=False, trust_env=False,
    )


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


async def exchange(client: httpx.AsyncClient, request: HttpRequest) -> HttpReply | AttemptResult:
    """Perform `request`. A transport failure or non-2xx status comes back as an AttemptResult; a 2xx as an
    HttpReply with the body parsed as JSON (None when it is not JSON)."""
    try:
        response = await client.request(request.method, request.url, content=request.content,
                                        headers=dict(request.headers))
    except httpx.HTTPError as exc:
        return classify_exception(exc)
    retry_after = _retry_after(response.headers.get("retry-after"))
    failed = classify_http_status(response.status_code, retry_after)
    if failed is not None:
        return failed
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = None
    return HttpReply(status=response.status_code, body=body, retry_after=retry_after)


def json_bytes(obj: Any) -> bytes:
    return orjson.dumps(obj)
