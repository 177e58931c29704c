"""The simulated OA/webhook receiver: signature and timestamp checks where configured, JSON only."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import orjson

from pipeline.clock import ManualClock

Mounted = Any


def webhook_headers(secret: str, ts: int, body: bytes) -> dict[str, str]:
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Exmail-Timestamp": str(ts), "X-Exmail-Signature": f"sha256={mac}",
            "X-Exmail-Idempotency-Key": "k1", "Content-Type": "application/json"}


async def test_receiver_verifies_signature_and_timestamp(receiver: Mounted, clock: ManualClock) -> None:
    body = orjson.dumps({"title": "告警"})
    now = int(clock.time())
    status, answer = await receiver.call("POST", "oa/alerts", raw=body, headers=webhook_headers("oa-secret", now, body))
    assert (status, answer) == (200, {"ok": True})
    entry = receiver.recorder.accepted("webhook", "oa/alerts")[0]
    assert entry.body == {"title": "告警"} and entry.headers["X-Exmail-Idempotency-Key"] == "k1"

    status, answer = await receiver.call("POST", "oa/alerts", raw=body + b" ",
                                         headers=webhook_headers("oa-secret", now, body))
    assert (status, answer["error"]) == (401, "bad signature")
    status, answer = await receiver.call("POST", "oa/alerts", raw=body,
                                         headers=webhook_headers("wrong", now, body))
    assert (status, answer["error"]) == (401, "bad signature")
    status, answer = await receiver.call("POST", "oa/alerts", raw=body,
                                         headers=webhook_headers("oa-secret", now - 301, body))
    assert (status, answer["error"]) == (401, "stale timestamp")
    status, answer = await receiver.call("POST", "oa/alerts", raw=body, headers={"Content-Type": "application/json"})
    assert status == 401
    assert len(receiver.recorder.rejected("webhook")) == 4


async def test_receiver_accepts_unsigned_elsewhere_and_rejects_non_json(receiver: Mounted) -> None:
    assert (await receiver.call("POST", "any/where", {"a": 1}))[0] == 200
    assert (await receiver.call("POST", "any/where", raw=b"not json"))[0] == 400
    await receiver.call("POST", "_sim/faults", {"kind": "http_status", "endpoint": "webhook", "status": 503})
    assert (await receiver.call("POST", "any/where", {"a": 2}))[0] == 503
    assert [e.body for e in receiver.recorder.accepted("webhook", "any/where")] == [{"a": 1}]
