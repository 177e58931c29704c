"""The DingTalk sink against an in-process transport: signed in the query, bodies within 20 KB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.clock import ManualClock
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.dingtalk import DingTalkConfig, DingTalkSink, dingtalk_sign

Make = Callable[..., Notification]


def big_notification(make: Make, n_alerts: int = 40) -> Notification:
    return make(n_alerts=n_alerts)


async def test_dingtalk_request_is_signed_in_the_query(make: Make, capture: Any) -> None:
    cap = capture()
    clock = ManualClock(start=1_800_000_000.5)
    sink = DingTalkSink(DingTalkConfig(name="dt", access_token="DTTOKEN", secret="SECdt", at_mobiles=["138"]),
                        client=cap.client(), clock=clock)
    assert (await sink.deliver(make())).status == "delivered"
    query = parse_qs(urlsplit(str(cap.requests[0].url)).query)
    assert query["access_token"] == ["DTTOKEN"] and query["timestamp"] == ["1800000000500"]
    assert query["sign"] == [dingtalk_sign("SECdt", 1800000000500)]
    body = cap.bodies()[0]
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] and "@138" in body["markdown"]["text"]
    assert body["at"]["atMobiles"] == ["138"]
    await sink.aclose()


async def test_dingtalk_bodies_fit_twenty_thousand_bytes(make: Make, capture: Any) -> None:
    cap = capture()
    sink = DingTalkSink(DingTalkConfig(name="dt", access_token="t", max_body_bytes=4000, max_parts=50),
                        client=cap.client(), clock=ManualClock())
    outcome = await sink.deliver(big_notification(make, 60))
    assert outcome.status == "delivered" and outcome.parts > 1
    assert all(len(r.content) <= 4000 for r in cap.requests)
    await sink.aclose()
