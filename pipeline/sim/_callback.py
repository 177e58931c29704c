"""New-mail callback push: encrypted `Mail`/`UnRead` POSTs to the registered URL with bounded retries and
backoff, URL verification with echostr, and a record of every attempt for the ground truth."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from pipeline.backoff import ceiling
from pipeline.exmail.crypto import CallbackEvent, MailEvent, WXBizMsgCrypt
from pipeline.secrets import scrub_text
from pipeline.sim.config import CallbackConfig

log = logging.getLogger("pipeline.sim.callback")


@dataclass
class PushRecord:
    seq: int
    msg_type: str
    userid: str
    event_time: int
    count: int
    mail_id: str | None
    id: str
    correlation_key: str | None
    outcome: str = "pending"
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class CallbackPusher:
    """Sends pushes concurrently (bounded), one user's pushes in order; each retried up to max_attempts."""

    def __init__(self, corp_id: str, token: str, aes_key: str) -> None:
        self.corp_id = corp_id
        self._default_token = token
        self._default_key = aes_key
        self.config: CallbackConfig | None = None
        self._crypt: WXBizMsgCrypt | None = None
        self.records: list[PushRecord] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._user_locks: dict[str, asyncio.Lock] = {}
        self._sem = asyncio.Semaphore(4)
        self._client: httpx.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"CallbackPusher(corp_id={self.corp_id!r}, configured={self.config is not None})"

    def configure(self, config: CallbackConfig | None) -> None:
        self.config = config
        if config is None:
            self._crypt = None
            return
        self._crypt = WXBizMsgCrypt(config.token or self._default_token,
                                    config.encoding_aes_key or self._default_key,
                                    config.corp_id or self.corp_id)
        self._sem = asyncio.Semaphore(config.concurrency)

    def wants(self, userid: str) -> bool:
        cfg = self.config
        return cfg is not None and (cfg.mailboxes is None or userid.lower() in {m.lower() for m in cfg.mailboxes})

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient()
        return self._client

    def push(self, event: CallbackEvent, record_id: str, correlation_key: str | None) -> PushRecord | None:
        """Queue one event for delivery if a callback is registered for its user."""
        userid = event.to_user_id if isinstance(event, MailEvent) else event.user_id
        if not self.wants(userid):
            return None
        record = PushRecord(
            seq=len(self.records) + 1, msg_type=event.msg_type, userid=userid, event_time=event.time,
            count=event.new_count if isinstance(event, MailEvent) else event.unread_count,
            mail_id=event.mail_id if isinstance(event, MailEvent) else None, id=record_id,
            correlation_key=correlation_key,
        )
        self.records.append(record)
        task = asyncio.get_running_loop().create_task(self._deliver(record, event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return record

    async def _deliver(self, record: PushRecord, event: CallbackEvent) -> None:
        lock = self._user_locks.setdefault(record.userid, asyncio.Lock())
        async with lock, self._sem:
            cfg, crypt = self.config, self._crypt
            if cfg is None or crypt is None:
                record.outcome = "cancelled"
                return
            message = crypt.encrypt(event.to_xml(), timestamp=int(time.time() - cfg.timestamp_age))
            extras = {"to_user_name": crypt.corp_id, "agent_id": "0"} if cfg.extra_fields else {}
            body = crypt.push_body(message, **extras)
            params = {"msg_signature": message.signature, "timestamp": message.timestamp, "nonce": message.nonce}
            for attempt in range(1, cfg.max_attempts + 1):
                started = time.time()
                try:
                    resp = await self._http().post(cfg.url, params=params, content=body.encode(),
                                                   headers={"Content-Type": "text/xml; charset=utf-8"},
                                                   timeout=cfg.timeout)
                    ok = 200 <= resp.status_code < 300
                    record.attempts.append({"attempt": attempt, "at": started, "status": resp.status_code})
                except httpx.HTTPError as exc:
                    ok = False
                    record.attempts.append({"attempt": attempt, "at": started, "status": None,
                                            "error": type(exc).__name__})
                if ok:
                    record.outcome = "delivered"
                    return
                if attempt < cfg.max_attempts:
                    await asyncio.sleep(ceiling(attempt, cfg.backoff_initial, cfg.backoff_max))
            record.outcome = "failed"
            log.warning("push %s to %s failed after %d attempts", record.seq, scrub_text(cfg.url), cfg.max_attempts)

    async def verify_url(self, config: CallbackConfig | None = None) -> dict[str, Any]:
        """GET url?msg_signature&timestamp&nonce&echostr; passes when the body echoes the plaintext."""
        cfg = config or self.config
        if cfg is None:
            return {"ok": False, "status": None, "error": "no callback registered"}
        crypt = WXBizMsgCrypt(cfg.token or self._default_token, cfg.encoding_aes_key or self._default_key,
                              cfg.corp_id or self.corp_id)
        plaintext = secrets.token_hex(12)
        message = crypt.encrypt(plaintext, timestamp=int(time.time()))
        params = {"msg_signature": message.signature, "timestamp": message.timestamp, "nonce": message.nonce,
                  "echostr": message.encrypt}
        try:
            resp = await self._http().get(cfg.url, params=params, timeout=cfg.timeout)
        except httpx.HTTPError as exc:
            return {"ok": False, "status": None, "error": type(exc).__name__}
        echoed = resp.text.strip() == plaintext
        return {"ok": resp.status_code == 200 and echoed, "status": resp.status_code, "echoed": echoed}

    async def drain(self, max_wait: float = 10.0) -> None:
        """Wait for queued pushes (tests use this before reading outcomes)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max_wait)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def dump(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records]
