"""Splunk HTTP Event Collector sink: batches of JSON events to /services/collector/event.

HEC has no idempotent write: a batch resent after a lost response or an ack timeout can be indexed twice.
Every event carries `fields.event_id` (an indexed field) so searches can `| dedup event_id`.

Responses: code 0 is success (with `ackId` when the token has indexer acknowledgement; the sink then polls
/services/collector/ack on its channel until the batch is indexed). An invalid event (codes 6, 12, 13 with
`invalid-event-number`) is dead-lettered; HEC indexes the events before it, so only those after it are
resent. Auth (401/403), busy (503), other 5xx/429 and transport failures are retried; a missing or invalid
channel (10, 11) gets a fresh channel and a retry; other refusals (e.g. 7, incorrect index) dead-letter.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson

from pipeline.backoff import ceiling
from pipeline.envelope import Envelope, parse_iso
from pipeline.secrets import resolve_secret
from pipeline.sinks._batching import BatchOutcome, RetriableSinkError
from pipeline.sinks.splunk_hec.config import SplunkHecSinkConfig

log = logging.getLogger(__name__)
_ACK_POLL_CAP_S = 5.0  # ack polls double from ack_poll_seconds up to this
EVENT_PATH = "/services/collector/event"
ACK_PATH = "/services/collector/ack"
_INVALID_EVENT_CODES = {6, 12, 13}
_CHANNEL_CODES = {10, 11}


class HecRequestError(RuntimeError):
    """HEC refused the request in a way retrying will not fix (wrong index, bad configuration)."""


def hec_event(envelope: Envelope, *, host: str, source: str, sourcetype: str, index: str | None) -> dict[str, Any]:
    """The HEC envelope of one event: metadata, the ECS document as `event`, ids as indexed `fields`."""
    out: dict[str, Any] = {"host": host, "source": source, "sourcetype": sourcetype}
    try:
        out["time"] = round(parse_iso(envelope.occurred_at).timestamp(), 3)
    except ValueError:
        pass
    if index:
        out["index"] = index
    event = envelope.data.get("event")
    dataset = event.get("dataset") if isinstance(event, dict) else None
    fields = {"event_id": envelope.id, "corp_id": envelope.corp_id}
    if isinstance(dataset, str) and dataset:
        fields["dataset"] = dataset
    out["event"] = envelope.data or {"id": envelope.id}
    out["fields"] = fields
    return out


class SplunkHecSink:
    def __init__(self, config: SplunkHecSinkConfig, *, name: str = "splunk_hec",
                 resolve: Callable[[str], str] = resolve_secret,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.name = name
        self.config = config
        self.channel = config.channel or str(uuid.uuid4())
        self._host = config.host or socket.gethostname()
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            base_url=config.url.rstrip("/"), timeout=config.timeout_seconds, verify=config.tls(),
            transport=transport, headers={"Authorization": f"Splunk {resolve(config.token)}"})

    def __repr__(self) -> str:
        return f"SplunkHecSink(name={self.name!r}, url={self.config.url!r}, use_ack={self.config.use_ack})"

    @staticmethod
    def size_of(envelope: Envelope) -> int:
        return len(envelope.encode()) + 160

    async def close(self) -> None:
        await self._client.aclose()

    def body(self, batch: list[Envelope]) -> bytes:
        cfg = self.config
        return b"\n".join(orjson.dumps(hec_event(env, host=self._host, source=cfg.source,
                                                 sourcetype=cfg.sourcetype, index=cfg.index)) for env in batch)

    async def _post(self, path: str, content: bytes, params: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._client.post(path, content=content, params=params,
                                           headers={"X-Splunk-Request-Channel": self.channel,
                                                    "Content-Type": "application/json"})
        except httpx.TransportError as exc:
            reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "connect"
            raise RetriableSinkError(f"splunk hec {self.config.url}: {type(exc).__name__}: {exc}",
                                     reason=reason) from None

    @staticmethod
    def _reply(resp: httpx.Response) -> dict[str, Any]:
        try:
            body = orjson.loads(resp.content)
        except orjson.JSONDecodeError:
            return {}
        return body if isinstance(body, dict) else {}

    async def send(self, batch: list[Envelope]) -> BatchOutcome[Envelope]:
        resp = await self._post(EVENT_PATH, self.body(batch))
        reply = self._reply(resp)
        code = reply.get("code")
        text = str(reply.get("text", resp.text[:200]))
        dest = f"splunk hec {self.config.url}"
        if resp.status_code == 200 and code in (0, None):
            if self.config.use_ack:
                ack_id = reply.get("ackId")
                if ack_id is None:
                    log.warning("%s: use_ack is set but HEC returned no ackId; the token has indexer"
                                " acknowledgement off, so a 200 only means accepted", dest)
                else:
                    await self._wait_ack(int(ack_id))
            return BatchOutcome()
        bad = reply.get("invalid-event-number")
        if code in _INVALID_EVENT_CODES and isinstance(bad, int) and 0 <= bad < len(batch):
            return BatchOutcome(retry=batch[bad + 1:], retry_reason="after_invalid_event",
                                rejected=[(batch[bad], f"splunk hec code {code}: {text}")])
        if code in _CHANNEL_CODES:
            self.channel = str(uuid.uuid4())
            raise RetriableSinkError(f"{dest}: {text} (code {code}); using a new channel", reason="channel")
        status = resp.status_code
        if status in (401, 403, 408, 429) or status >= 500:
            reason = "auth" if status in (401, 403) else "busy" if status == 503 else f"http_{status}"
            raise RetriableSinkError(f"{dest}: HTTP {status}: {text} (code {code})", reason=reason)
        raise HecRequestError(f"{dest}: HTTP {status}: {text} (code {code})")

    async def _wait_ack(self, ack_id: int) -> None:
        """Poll the ack endpoint until Splunk reports the batch indexed; a timeout resends the batch."""
        deadline = time.monotonic() + self.config.ack_timeout_seconds
        first = self.config.ack_poll_seconds
        polls, delay = 1, first  # the first wait is as configured, even above the cap
        query = orjson.dumps({"acks": [ack_id]})
        while True:
            await self._sleep(delay)
            resp = await self._post(ACK_PATH, query, params={"channel": self.channel})
            reply = self._reply(resp)
            acks = reply.get("acks")
            if resp.status_code == 200 and isinstance(acks, dict) and acks.get(str(ack_id)) is True:
                return
            if reply.get("code") == 14:
                log.warning("splunk hec %s: indexer acknowledgement is disabled for this token", self.config.url)
                return
            if resp.status_code == 400 and reply.get("code") in _CHANNEL_CODES:
                self.channel = str(uuid.uuid4())
                raise RetriableSinkError(f"splunk hec {self.config.url}: ack channel lost", reason="channel")
            if time.monotonic() + delay > deadline:
                raise RetriableSinkError(
                    f"splunk hec {self.config.url}: ack {ack_id} not indexed within"
                    f" {self.config.ack_timeout_seconds:g}s", reason="ack_timeout")
            polls += 1
            delay = ceiling(polls, first, _ACK_POLL_CAP_S)
