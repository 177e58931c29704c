"""The WeCom robot sink against an in-process transport: the key travels in the URL only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pipeline.clock import ManualClock
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.wecom_robot import WeComRobotConfig, WeComRobotSink

Make = Callable[..., Notification]


async def test_robot_request_carries_key_in_url_only(make: Make, capture: Any) -> None:
    cap = capture()
    sink = WeComRobotSink(WeComRobotConfig(name="r", key="ROBOTKEY+/=", base_url="https://wecom.test"),
                          client=cap.client(), clock=ManualClock())
    outcome = await sink.deliver(make())
    assert outcome.status == "delivered"
    url = urlsplit(str(cap.requests[0].url))
    assert url.path == "/cgi-bin/webhook/send" and parse_qs(url.query)["key"] == ["ROBOTKEY+/="]
    assert "ROBOTKEY" not in repr(sink) + repr(sink.service.__dict__) + str(outcome.to_dict())
    await sink.aclose()
