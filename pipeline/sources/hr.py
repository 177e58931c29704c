"""HR lifecycle intake: joiner / mover / leaver records over HTTP into hr.lifecycle (intake only).

Request: POST <path> with a JSON body that is one record, a list of records, or {"records": [...]}; headers
`X-HR-Timestamp` (Unix seconds) and `X-HR-Signature: sha256=<hex>` = HMAC-SHA256(secret, "<timestamp>." + body).
Every record is validated against `RECORD_SCHEMA` (the data part of hr.lifecycle/1 plus an optional corp_id,
required when the deployment has several corps); one invalid record rejects the whole request, so a sender
never has to work out which half went through.

Answers: 200 {"accepted": n, "ids": [...]} after every delivery report; 400 not JSON / schema errors (each
with its record index and JSON path); 401 missing or bad signature, or timestamp outside the window;
409 replayed (this exact signed request was already taken within the window: a captured request cannot be
sent again; a retry after a 503 is accepted); 413 body too large; 503 delivery failed, with Retry-After, within the
intake's answer bound (retry: ids are fingerprint("hr", corp_id, request_id) and the intake produces each id once
in its dedup window, so a retry, or a batch of which some records were stored, ends with every record stored once).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from jsonschema import Draft202012Validator

from pipeline import metrics
from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.records import HR_SCHEMA
from pipeline.sources._emit import Outgoing
from pipeline.sources._intake import RETRY_AFTER_SECONDS, IntakeGate, request_open

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-HR-Signature"
TIMESTAMP_HEADER = "X-HR-Timestamp"
MAX_RECORDS = 1000

_NULLABLE_STR: dict[str, Any] = {"type": ["string", "null"], "maxLength": 1024}
RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["event", "request_id", "employee_id", "userid"],
    "properties": {
        "corp_id": {"type": "string", "minLength": 1},
        "event": {"enum": ["joiner", "mover", "leaver"]},
        "request_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "employee_id": {"type": "string", "minLength": 1, "maxLength": 256},
        "userid": {"type": "string", "minLength": 3, "maxLength": 254, "pattern": "^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$"},
        "name": _NULLABLE_STR,
        "department_path": _NULLABLE_STR,
        "position": _NULLABLE_STR,
        "mobile": _NULLABLE_STR,
        "aliases": {"type": "array", "maxItems": 5, "items": {"type": "string", "minLength": 3}},
        "effective_at": _NULLABLE_STR,
    },
}
_VALIDATOR = Draft202012Validator(RECORD_SCHEMA)
_DATA_FIELDS = ("event", "request_id", "employee_id", "userid", "name", "department_path", "position", "mobile",
                "aliases", "effective_at")


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The X-HR-Signature value a sender puts on `body`."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class HrIntake:
    def __init__(
        self,
        *,
        secret: str,
        corp_ids: list[str],
        gate: IntakeGate,
        topic: str,
        max_body_bytes: int = 1024 * 1024,
        replay_window_seconds: int = 300,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret.encode()
        self._corp_ids = list(corp_ids)
        self._gate = gate
        self._topic = topic
        self._max_body = max_body_bytes
        self._window = replay_window_seconds
        self._now = now
        self._seen: dict[str, float] = {}  # signature -> when its timestamp leaves the window

    def __repr__(self) -> str:
        return f"HrIntake(corps={self._corp_ids!r})"

    def _first_use(self, request: web.Request) -> str | None:
        """The signature if this signed request is new within the window (remembered until it goes stale)."""
        now = self._now()
        if len(self._seen) > 10_000:
            self._seen = {sig: until for sig, until in self._seen.items() if until >= now}
        signature = request.headers.get(SIGNATURE_HEADER, "").strip()
        until = self._seen.get(signature)
        if until is not None and until >= now:
            return None
        self._seen[signature] = int(request.headers.get(TIMESTAMP_HEADER, "0")) + self._window
        return signature

    def _reply(self, status: int, reason: str, **extra: Any) -> web.Response:
        if status >= 400:
            metrics.SOURCE_ERRORS.labels("hr", "hr_lifecycle", reason).inc()
            log.info("hr intake rejected: %s", reason)
        body = {"error": reason, **extra} if status >= 400 else extra
        return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")

    def _verify(self, request: web.Request, body: bytes) -> str | None:
        """None if the signature is good, else the reason."""
        ts = request.headers.get(TIMESTAMP_HEADER, "")
        given = request.headers.get(SIGNATURE_HEADER, "")
        if not ts or not given:
            return "missing_signature"
        try:
            stale = abs(self._now() - int(ts)) > self._window
        except ValueError:
            return "bad_timestamp"
        if not hmac.compare_digest(sign(self._secret, ts, body).encode(), given.strip().encode()):
            return "bad_signature"
        if stale:
            return "stale_timestamp"
        return None

    def _records(self, payload: Any) -> list[Any]:
        if isinstance(payload, dict) and "records" in payload and set(payload) == {"records"}:
            payload = payload["records"]
        return payload if isinstance(payload, list) else [payload]

    def _validate(self, records: list[Any]) -> list[dict[str, Any]]:
        problems: list[dict[str, Any]] = []
        for i, rec in enumerate(records):
            errors = sorted(_VALIDATOR.iter_errors(rec), key=lambda e: [str(p) for p in e.absolute_path])
            for err in errors:
                path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err.absolute_path)
                problems.append({"index": i, "path": path, "message": err.message[:300]})
            if isinstance(rec, dict) and not errors:
                corp = rec.get("corp_id")
                if corp is None and len(self._corp_ids) != 1:
                    problems.append({"index": i, "path": "$.corp_id",
                                     "message": "corp_id is required (this deployment serves several corps)"})
                elif corp is not None and corp not in self._corp_ids:
                    problems.append({"index": i, "path": "$.corp_id", "message": "unknown corp_id"})
        return problems

    def envelope(self, rec: dict[str, Any]) -> Outgoing:
        corp_id = rec.get("corp_id") or self._corp_ids[0]
        data = {f: rec.get(f) for f in _DATA_FIELDS}
        data["aliases"] = list(rec.get("aliases") or [])
        env = Envelope(schema=HR_SCHEMA, id=fingerprint("hr", corp_id, rec["request_id"]), corp_id=corp_id,
                       source="exmail-ingest/hr", occurred_at=utc_iso(), data=data)
        return Outgoing(self._topic, record_key(corp_id, rec["employee_id"]), env)

    async def handle(self, request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > self._max_body:
            return self._reply(413, "body_too_large", max_bytes=self._max_body)
        body = await request.content.read(self._max_body + 1)
        if len(body) > self._max_body:
            return self._reply(413, "body_too_large", max_bytes=self._max_body)
        problem = self._verify(request, body)
        if problem is not None:
            return self._reply(401, problem)
        signature = self._first_use(request)
        if signature is None:
            return self._reply(409, "replayed")
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return self._reply(400, "not_json")
        records = self._records(payload)
        if not records or len(records) > MAX_RECORDS:
            return self._reply(400, "invalid", details=[{"index": None, "path": "$",
                                                         "message": f"send 1..{MAX_RECORDS} records"}])
        problems = self._validate(records)
        if problems:
            return self._reply(400, "invalid", details=problems[:50])
        items = [self.envelope(r) for r in records]
        decision = await self._gate.deliver(items, corp="hr", stream="hr_lifecycle",
                                            still_open=lambda: request_open(request))
        if decision in ("failed", "abandoned"):
            self._seen.pop(signature, None)  # nothing was taken: the sender may retry this very request
            reply = self._reply(503, "delivery_failed")
            reply.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return reply
        return self._reply(200, "ok", accepted=len(items), ids=[i.envelope.id for i in items])

    def routes(self, path: str) -> list[web.RouteDef]:
        return [web.post(path, self.handle)]
