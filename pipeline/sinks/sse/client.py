"""A small async client for GET /stream: iterate events, reconnect with Last-Event-ID when the stream ends or
the connection fails, so a consumer sees every matching record once across reconnects.

```python
async with SseClient("http://worker:8080/sse/stream", token=token, params={"severity": "critical"}) as sse:
    async for event in sse:
        if event.event == "notification":
            handle(event.json())
```
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from types import TracebackType

import httpx

from pipeline.secrets import scrub_text
from pipeline.sinks.sse._wire import SseEvent, SseParser

__all__ = ["SseClient", "SseError", "SseEvent"]

log = logging.getLogger("pipeline.sinks.sse.client")

Params = Mapping[str, str | Sequence[str]]


class SseError(RuntimeError):
    """The server refused the stream (`status` 400/401/...) or the client gave up reconnecting."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class SseClient:
    """Async iterator over events; `last_event_id` is the position to resume from (also advanced by
    heartbeats that carry an id). Retries on EOF, transport errors and 503; raises SseError on other non-200
    answers or after `max_reconnects` consecutive failed attempts."""

    def __init__(self, url: str, *, token: str | None = None, params: Params | None = None,
                 last_event_id: str | None = None, reconnect_delay: float | None = None,
                 max_reconnects: int | None = None, read_timeout: float = 60.0,
                 http: httpx.AsyncClient | None = None) -> None:
        self.url = url
        self._token = token
        self._params = dict(params or {})
        self.last_event_id = last_event_id
        self._delay = reconnect_delay
        self._max_reconnects = max_reconnects
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=read_timeout))
        self.connects = 0
        self._server_retry: float | None = None

    def __repr__(self) -> str:
        return f"SseClient({scrub_text(self.url)!r})"

    async def __aenter__(self) -> SseClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    def __aiter__(self) -> AsyncIterator[SseEvent]:
        return self.events()

    async def events(self) -> AsyncGenerator[SseEvent, None]:
        failures = 0
        while True:
            retry_after: float | None = None
            try:
                async for event in self._connect_once():
                    failures = 0
                    yield event
            except _RetryLater as exc:
                retry_after = exc.seconds
                failures += 1
            except httpx.TransportError as exc:
                log.info("SSE connection to %s failed: %s", scrub_text(self.url), type(exc).__name__)
                failures += 1
            if self._max_reconnects is not None and failures > self._max_reconnects:
                raise SseError(f"gave up after {failures} failed attempts")
            await asyncio.sleep(retry_after if retry_after is not None else self._reconnect_delay())

    def _reconnect_delay(self) -> float:
        if self._delay is not None:
            return self._delay
        return self._server_retry if self._server_retry is not None else 3.0

    async def _connect_once(self) -> AsyncIterator[SseEvent]:
        headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        if self.last_event_id:
            headers["Last-Event-ID"] = self.last_event_id
        async with self._http.stream("GET", self.url, params=self._params, headers=headers) as response:
            if response.status_code == 503:
                raise _RetryLater(_retry_after(response.headers.get("Retry-After")))
            if response.status_code != 200:
                body = (await response.aread())[:500].decode("utf-8", "replace")
                raise SseError(f"stream refused: HTTP {response.status_code}: {scrub_text(body)}",
                               response.status_code)
            self.connects += 1
            parser = SseParser(self.last_event_id)
            async for line in response.aiter_lines():
                for event in parser.feed(line):
                    self.last_event_id = parser.last_event_id
                    yield event
                self.last_event_id = parser.last_event_id
                if parser.retry_ms is not None:
                    self._server_retry = parser.retry_ms / 1000


class _RetryLater(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0
