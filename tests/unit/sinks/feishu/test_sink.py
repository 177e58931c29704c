"""The Feishu sink against an in-process transport: the signature goes in the body."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.clock import ManualClock
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.feishu import FeishuConfig, FeishuSink, feishu_sign

Make = Callable[..., Notification]


def big_notification(make: Make, n_alerts: int = 40) -> Notification:
    return make(n_alerts=n_alerts)


async def test_feishu_sign_goes_in_the_body(make: Make, capture: Any) -> None:
    cap = capture(lambda r: {"code": 0, "msg": "success", "data": {}})
    clock = ManualClock(start=1_800_000_000)
    sink = FeishuSink(FeishuConfig(name="fs", hook_token="HOOKTOKEN", secret="FSSECRET", max_body_bytes=4096,
                                   max_parts=50), client=cap.client(), clock=clock)
    outcome = await sink.deliver(big_notification(make, 40))
    assert outcome.status == "delivered" and outcome.parts > 1
    assert cap.requests[0].url.path == "/open-apis/bot/v2/hook/HOOKTOKEN"
    for req, body in zip(cap.requests, cap.bodies(), strict=True):
        assert len(req.content) <= 4096
        assert body["timestamp"] == "1800000000" and body["sign"] == feishu_sign("FSSECRET", 1800000000)
        assert body["msg_type"] == "interactive" and body["card"]["elements"][0]["tag"] == "markdown"
    await sink.aclose()
