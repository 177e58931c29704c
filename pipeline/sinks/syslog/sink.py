"""Syslog sink: one persistent TCP or TLS connection, one write of octet-counted frames per batch.

TCP syslog has no application-level acknowledgement: a batch counts as delivered once the kernel accepted it
(`drain()`), and a receiver that vanishes between two batches can lose what was in flight. The sink checks
for a half-closed connection before every batch and reconnects; write or connect failures resend the whole
batch (the receiver may see a duplicate, which the `id` SD parameter identifies).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
from collections.abc import Callable

from pipeline.envelope import Envelope
from pipeline.secrets import resolve_secret
from pipeline.sinks._batching import BatchOutcome, RetriableSinkError
from pipeline.sinks.syslog.config import SyslogSinkConfig
from pipeline.sinks.syslog.format import cef, json_body, octet_frame, rfc5424

log = logging.getLogger(__name__)


def _peer_closed(writer: asyncio.StreamWriter) -> bool:
    """Peek at the socket without consuming: an orderly shutdown by the receiver reads as b"" right away, even
    before the event loop has noticed it."""
    sock = writer.get_extra_info("socket")
    if sock is None:
        return False
    try:
        with socket.fromfd(sock.fileno(), sock.family, sock.type) as probe:
            return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class SyslogSink:
    def __init__(self, config: SyslogSinkConfig, *, name: str = "syslog",
                 resolve: Callable[[str], str] = resolve_secret) -> None:
        self.name = name
        self.config = config
        self._ssl = config.ssl_context(resolve)
        self._hostname = config.hostname or socket.gethostname()
        self._procid = str(os.getpid())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def __repr__(self) -> str:
        c = self.config
        return f"SyslogSink(name={self.name!r}, {c.transport}://{c.host}:{c.port}, format={c.format!r})"

    def size_of(self, envelope: Envelope) -> int:
        return min(self.config.max_message_bytes, len(envelope.encode()) + 160)

    def message(self, envelope: Envelope) -> bytes:
        c = self.config
        body = (cef(envelope, vendor=c.cef_vendor, product=c.cef_product, version=c.cef_version)
                if c.format == "cef" else json_body(envelope))
        return rfc5424(envelope, facility=c.facility, hostname=self._hostname, app_name=c.app_name, sd_id=c.sd_id,
                       body=body, max_bytes=c.max_message_bytes, procid=self._procid)

    async def _connection(self) -> asyncio.StreamWriter:
        if self._writer is not None and self._reader is not None:
            if not self._writer.is_closing() and not self._reader.at_eof() and not _peer_closed(self._writer):
                return self._writer
            log.info("syslog %s:%s closed the connection; reconnecting", self.config.host, self.config.port)
            await self._drop()
        c = self.config
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(c.host, c.port, ssl=self._ssl,
                                        server_hostname=(c.server_name or c.host) if self._ssl else None),
                c.connect_timeout_seconds)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            raise RetriableSinkError(f"syslog {c.transport}://{c.host}:{c.port}: cannot connect: {exc}",
                                     reason="connect") from None
        self._reader, self._writer = reader, writer
        return writer

    async def _drop(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    async def send(self, batch: list[Envelope]) -> BatchOutcome[Envelope]:
        payload = b"".join(octet_frame(self.message(env)) for env in batch)
        writer = await self._connection()
        try:
            writer.write(payload)
            await asyncio.wait_for(writer.drain(), self.config.write_timeout_seconds)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            await self._drop()
            raise RetriableSinkError(f"syslog {self.config.host}:{self.config.port}: write failed: {exc}",
                                     reason="write") from None
        return BatchOutcome()

    async def close(self) -> None:
        await self._drop()
