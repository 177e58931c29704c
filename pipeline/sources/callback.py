"""The Exmail new-mail callback endpoint (exmail-api.md §6.2): URL verification and Mail/UnRead pushes.

Everything is verified before Kafka: body size, query parameters, the timestamp's replay window, the signature,
decryption, the CorpID at the end of the plaintext and inside the XML. Anything unverifiable is answered with a
4xx and a reason (text body, `exmail_callback_rejections_total{reason}`), and nothing is produced. A valid push
is answered 200 only after its record's delivery report, within the intake's answer bound (`IntakeGate`); if
the record could not be stored in that time the answer is 503 with Retry-After and the record is not in Kafka,
so Exmail retries. A push repeated after it was accepted (same timestamp, nonce and signature, or a retry with
new ones: the record id is the same) is answered 200 again without a second record.

Status codes: 413 body_too_large; 400 missing_parameters, bad_timestamp, malformed_xml, undecryptable;
403 stale_timestamp, bad_signature, wrong_corp_id; 503 delivery_failed (with Retry-After).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from aiohttp import web

from pipeline import metrics
from pipeline.exmail.crypto import (
    CallbackCryptoError,
    CorpIdMismatchError,
    ShaError,
    SignatureError,
    WXBizMsgCrypt,
    XmlParseError,
    parse_event,
)
from pipeline.sources import new_mail
from pipeline.sources._emit import Outgoing
from pipeline.sources._intake import RETRY_AFTER_SECONDS, IntakeGate, request_open

log = logging.getLogger(__name__)

_MAX_REMEMBERED = 100_000


class Rejected(Exception):
    def __init__(self, status: int, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.reason = reason
        self.detail = detail


def _classify(exc: CallbackCryptoError) -> Rejected:
    if isinstance(exc, SignatureError | ShaError):
        return Rejected(403, "bad_signature", "msg_signature does not match")
    if isinstance(exc, CorpIdMismatchError):
        return Rejected(403, "wrong_corp_id", "the message is not for this corp")
    if isinstance(exc, XmlParseError):
        return Rejected(400, "malformed_xml", f"body is not a valid push: {exc.reason}")
    return Rejected(400, "undecryptable", f"cannot decrypt the message: {exc.reason}")


class CallbackEndpoint:
    """One corp's callback URL. `now` is the wall clock the replay window is checked against."""

    def __init__(
        self,
        *,
        corp_id: str,
        crypt: WXBizMsgCrypt,
        gate: IntakeGate,
        topic: str,
        replay_window_seconds: int = 300,
        max_body_bytes: int = 64 * 1024,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.corp_id = corp_id
        self._crypt = crypt
        self._gate = gate
        self._topic = topic
        self._window = replay_window_seconds
        self._max_body = max_body_bytes
        self._now = now
        self._accepted: OrderedDict[tuple[str, str, str], float] = OrderedDict()

    def __repr__(self) -> str:
        return f"CallbackEndpoint(corp_id={self.corp_id!r})"

    # ------------------------------------------------------------ checks

    def _params(self, request: web.Request, names: tuple[str, ...]) -> dict[str, str]:
        values = {n: request.query.get(n, "") for n in names}
        missing = [n for n, v in values.items() if not v]
        if missing:
            raise Rejected(400, "missing_parameters", f"missing query parameter(s): {', '.join(missing)}")
        return values

    def _check_timestamp(self, value: str) -> None:
        try:
            ts = int(value)
        except ValueError:
            raise Rejected(400, "bad_timestamp", "timestamp must be Unix seconds") from None
        if abs(self._now() - ts) > self._window:
            raise Rejected(403, "stale_timestamp", f"timestamp is outside the {self._window}s replay window")

    async def _body(self, request: web.Request) -> bytes:
        if request.content_length is not None and request.content_length > self._max_body:
            raise Rejected(413, "body_too_large", f"body exceeds {self._max_body} bytes")
        body = await request.content.read(self._max_body + 1)
        if len(body) > self._max_body:
            raise Rejected(413, "body_too_large", f"body exceeds {self._max_body} bytes")
        return body

    def _remember(self, key: tuple[str, str, str]) -> None:
        now = self._now()
        self._accepted[key] = now + self._window
        while self._accepted:
            oldest_key, expiry = next(iter(self._accepted.items()))
            if expiry >= now and len(self._accepted) <= _MAX_REMEMBERED:
                break
            self._accepted.pop(oldest_key)

    def _reject(self, rejected: Rejected, msg_type: str) -> web.Response:
        metrics.CALLBACK_REJECTIONS.labels(rejected.reason).inc()
        metrics.CALLBACK_REQUESTS.labels(self.corp_id, msg_type, "rejected").inc()
        log.info("callback %s rejected: %s (%s)", self.corp_id, rejected.reason, rejected.detail)
        return web.Response(status=rejected.status, text=f"{rejected.reason}: {rejected.detail}\n")

    # ------------------------------------------------------------ handlers

    async def handle_get(self, request: web.Request) -> web.Response:
        """URL verification: answer the decrypted echostr."""
        try:
            p = self._params(request, ("msg_signature", "timestamp", "nonce", "echostr"))
            self._check_timestamp(p["timestamp"])
            try:
                plain = self._crypt.verify_url(p["msg_signature"], p["timestamp"], p["nonce"], p["echostr"])
            except CallbackCryptoError as exc:
                raise _classify(exc) from None
        except Rejected as rejected:
            return self._reject(rejected, "verify")
        metrics.CALLBACK_REQUESTS.labels(self.corp_id, "verify", "ok").inc()
        return web.Response(text=plain)

    async def handle_post(self, request: web.Request) -> web.Response:
        msg_type = "unknown"
        try:
            body = await self._body(request)
            p = self._params(request, ("msg_signature", "timestamp", "nonce"))
            self._check_timestamp(p["timestamp"])
            try:
                xml = self._crypt.decrypt_message(p["msg_signature"], p["timestamp"], p["nonce"], body)
                event = parse_event(xml)
            except CallbackCryptoError as exc:
                raise _classify(exc) from None
            msg_type = event.msg_type
            if event.corp_id != self.corp_id:
                raise Rejected(403, "wrong_corp_id", "CorpID in the message is not this corp")
        except Rejected as rejected:
            return self._reject(rejected, msg_type)
        replay_key = (p["timestamp"], p["nonce"], p["msg_signature"])
        if replay_key in self._accepted:
            metrics.CALLBACK_REQUESTS.labels(self.corp_id, msg_type, "duplicate").inc()
            return web.Response(text="success")
        key, env = new_mail.from_push(self.corp_id, event, "exmail-ingest/callback")
        decision = await self._gate.deliver([Outgoing(self._topic, key, env)], corp=self.corp_id, stream="callback",
                                            still_open=lambda: request_open(request))
        if decision in ("failed", "abandoned"):
            metrics.CALLBACK_REQUESTS.labels(self.corp_id, msg_type, "delivery_failed").inc()
            return web.Response(status=503, text="delivery_failed: try again later\n",
                                headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        if decision == "duplicate":
            self._remember(replay_key)
            metrics.CALLBACK_REQUESTS.labels(self.corp_id, msg_type, "duplicate").inc()
            return web.Response(text="success")
        self._remember(replay_key)
        metrics.CALLBACK_REQUESTS.labels(self.corp_id, msg_type, "accepted").inc()
        return web.Response(text="success")

    def routes(self, path: str) -> list[web.RouteDef]:
        return [web.get(path, self.handle_get, allow_head=False), web.post(path, self.handle_post)]

