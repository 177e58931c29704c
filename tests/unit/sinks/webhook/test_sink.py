"""The webhook sink against an in-process transport: every request is signed."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from pipeline.clock import ManualClock
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.webhook import WebhookConfig, WebhookSink

Make = Callable[..., Notification]


async def test_webhook_signs_each_request(make: Make, capture: Any) -> None:
    cap = capture(lambda r: {})
    clock = ManualClock(start=1_800_000_000)
    sink = WebhookSink(WebhookConfig(name="oa", url="https://oa.test/hook?token=URLTOKEN", secret="HMACSECRET",
                                     bearer_token="BEARER"), client=cap.client(), clock=clock)
    assert (await sink.deliver(make())).status == "delivered"
    req = cap.requests[0]
    assert req.headers["X-Exmail-Timestamp"] == "1800000000"
    mac = hmac.new(b"HMACSECRET", b"1800000000." + req.content, hashlib.sha256).hexdigest()
    assert req.headers["X-Exmail-Signature"] == f"sha256={mac}"
    assert req.headers["X-Exmail-Idempotency-Key"] == "nk-1"
    assert req.headers["Authorization"] == "Bearer BEARER"
    await sink.aclose()
