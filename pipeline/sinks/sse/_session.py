"""One connected client: its reader, its filters, its position, and the loop that writes events to it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from typing import Any

import orjson
from aiohttp import web

from pipeline.metrics import SSE_DROPPED_CLIENTS, SSE_EVENTS
from pipeline.sinks.sse._filters import RecordFilter
from pipeline.sinks.sse._position import Position
from pipeline.sinks.sse._reader import KafkaReader, KafkaRecord, ReaderEnd, StartError
from pipeline.sinks.sse._wire import format_comment, format_event, format_position, format_retry
from pipeline.sinks.sse.config import SseConfig

log = logging.getLogger("pipeline.sinks.sse")

_CHUNK_BYTES = 65536
_DISCONNECT_CHECK_SECONDS = 1.0
_FINAL_WRITE_SECONDS = 5.0
HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}


class ClientStream:
    """Serves one GET /stream from an opened reader until the client leaves, the reader gives up, or
    `shutdown()` is called."""

    def __init__(self, name: str, config: SseConfig, kinds: dict[str, str], reader: KafkaReader,
                 record_filter: RecordFilter) -> None:
        self.name = name
        self._config = config
        self._kinds = kinds
        self._reader = reader
        self._filter = record_filter
        self._shutdown: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._position = Position()
        self._last_id = ""
        self.sent = 0

    def shutdown(self) -> None:
        if not self._shutdown.done():
            self._shutdown.set_result(None)

    async def run(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._run(request)
        finally:
            self._reader.stop()
            await self._reader.join()

    async def _run(self, request: web.Request) -> web.StreamResponse:
        try:
            opened = await self._reader.open()
        except StartError as exc:
            log.warning("SSE %s cannot start: %s", self.name, exc)
            return web.json_response({"error": str(exc)}, status=503,
                                     headers={"Retry-After": str(self._config.retry_after_seconds)})
        self._position = opened.position
        self._last_id = self._position.encode()
        response = web.StreamResponse(status=200, headers=HEADERS)
        await response.prepare(request)
        head = [format_retry(self._config.reconnect_ms), format_position(self._last_id, "stream open")]
        head += [format_event("gap", orjson.dumps(g.to_dict()), self._last_id) for g in opened.gaps]
        try:
            await response.write(b"".join(head))
        except ConnectionError:
            return response
        await self._serve(request, response)
        return response

    async def _serve(self, request: web.Request, response: web.StreamResponse) -> None:
        pump = asyncio.create_task(self._pump(request, response))
        ended = self._reader.ended
        waiters: list[asyncio.Future[Any]] = [pump, ended, self._shutdown]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not pump.done():
                pump.cancel()
        if pump.done():
            exc = None if pump.cancelled() else pump.exception()
            if exc is not None and not isinstance(exc, ConnectionError):
                log.error("SSE %s failed", self.name, exc_info=exc)
                SSE_DROPPED_CLIENTS.labels(reason="error").inc()
                await self._finish(request, response, format_event("error", b'{"error":"internal error"}',
                                                                   self._position.encode()))
            return
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await pump
        if ended.done():
            end: ReaderEnd = ended.result()
            SSE_DROPPED_CLIENTS.labels(reason=end.reason).inc()
            log.warning("SSE %s dropped (%s): %s", self.name, end.reason, end.detail)
            event = "overflow" if end.reason == "overflow" else "error"
            body = orjson.dumps({"reason": end.reason, "detail": end.detail})
            await self._finish(request, response, format_event(event, body, self._position.encode()))
        else:
            SSE_DROPPED_CLIENTS.labels(reason="shutdown").inc()
            await self._finish(request, response, format_position(self._position.encode(), "server shutdown"))

    async def _finish(self, request: web.Request, response: web.StreamResponse, final: bytes) -> None:
        """Write the last block and end the body; a client that does not read it in time is cut off."""
        try:
            async with asyncio.timeout(min(_FINAL_WRITE_SECONDS, self._config.slow_client_seconds)):
                await response.write(final)
                await response.write_eof()
        except ConnectionError:
            pass
        except TimeoutError:
            if request.transport is not None:
                request.transport.abort()

    async def _pump(self, request: web.Request, response: web.StreamResponse) -> None:
        loop = asyncio.get_running_loop()
        heartbeat = self._config.heartbeat_seconds
        last_write = loop.time()
        while True:
            wait = max(0.0, min(_DISCONNECT_CHECK_SECONDS, last_write + heartbeat - loop.time()))
            records = await self._reader.backlog.take(wait)
            if request.transport is None or request.transport.is_closing():
                return
            if records and await self._write_records(response, records):
                last_write = loop.time()
            if loop.time() - last_write >= heartbeat:
                current = self._position.encode()
                block = format_position(current, "keepalive") if current != self._last_id else \
                    format_comment("keepalive")
                self._last_id = current
                await response.write(block)
                last_write = loop.time()

    async def _write_records(self, response: web.StreamResponse, records: list[KafkaRecord]) -> bool:
        """Render and write; the position advances before each write, so wherever a cancellation lands the
        position covers exactly the bytes handed to the transport. Returns whether anything was written."""
        chunk: list[bytes] = []
        size = 0
        counts: Counter[str] = Counter()
        wrote = False
        for record in records:
            kind = self._kinds[record.topic]
            self._position.advance(kind, record.partition, record.offset)
            rendered = self._render(kind, record)
            if rendered is None:
                continue
            block, is_record = rendered
            counts[kind if is_record else "invalid"] += 1
            chunk.append(block)
            size += len(block)
            if size >= _CHUNK_BYTES:
                await self._write(response, chunk, counts)
                chunk, size, wrote = [], 0, True
        if chunk:
            await self._write(response, chunk, counts)
            wrote = True
        return wrote

    async def _write(self, response: web.StreamResponse, chunk: list[bytes], counts: Counter[str]) -> None:
        for kind, n in counts.items():
            if kind != "invalid":
                SSE_EVENTS.labels(stream=kind).inc(n)
        self.sent += sum(counts.values())
        counts.clear()
        await response.write(b"".join(chunk))

    def _render(self, kind: str, record: KafkaRecord) -> tuple[bytes, bool] | None:
        """(SSE block, whether it is a record rather than an `invalid` marker), or None if filtered out."""
        value = record.value
        try:
            if not value:
                raise ValueError("empty record")
            obj = orjson.loads(value)
            if not isinstance(obj, dict):
                raise ValueError(f"record is a JSON {type(obj).__name__}, not an object")
        except ValueError as exc:
            self._last_id = self._position.encode()
            info = {"kind": kind, "partition": record.partition, "offset": record.offset,
                    "error": str(exc).splitlines()[0][:200]}
            return format_event("invalid", orjson.dumps(info), self._last_id), False
        if self._filter and not self._filter.matches(kind, obj):
            return None
        data = value if b"\n" not in value and b"\r" not in value else orjson.dumps(obj)
        self._last_id = self._position.encode()
        return format_event(kind, data, self._last_id), True
