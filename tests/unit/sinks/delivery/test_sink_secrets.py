"""Secrets (robot keys, corp secrets, HMAC secrets, tokens) never reach logs, reprs or outcomes."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pipeline.clock import ManualClock
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.dingtalk import DingTalkConfig, DingTalkSink
from pipeline.sinks.feishu import FeishuConfig, FeishuSink
from pipeline.sinks.webhook import WebhookConfig, WebhookSink
from pipeline.sinks.wecom_app import WeComAppConfig, WeComAppSink
from pipeline.sinks.wecom_robot import WeComRobotConfig, WeComRobotSink

SECRETS = ["ROBOTKEY9f8e7d", "CORPSECRETa1b2", "ACCESSTOKENzz99", "HMACSECRETq1w2", "DTTOKENx1", "DTSECx2",
           "FSHOOKy1", "FSSECy2", "OAURLTOKEN77", "BEARERb1"]


def answering(sequence: list[dict[str, Any] | int]) -> Callable[[httpx.Request], httpx.Response]:
    """Answers gettoken with a token, everything else from `sequence` (JSON body, or an HTTP status)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("gettoken"):
            return httpx.Response(200, json={"errcode": 0, "access_token": "ACCESSTOKENzz99", "expires_in": 7200})
        item = sequence.pop(0) if sequence else {"errcode": 0, "code": 0}
        if isinstance(item, int):
            return httpx.Response(item, text=f"error mentioning ROBOTKEY9f8e7d {request.url}")
        return httpx.Response(200, json=item)

    return handler


def sinks(handler: Callable[[httpx.Request], httpx.Response]) -> list[Any]:
    clock = ManualClock()

    def client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(handler))

    return [
        WeComRobotSink(WeComRobotConfig(name="robot", key="ROBOTKEY9f8e7d"), client=client(), clock=clock),
        WeComAppSink(WeComAppConfig(name="app", corp_id="ww1", agent_id=1, secret="CORPSECRETa1b2"),
                     client=client(), clock=clock),
        WebhookSink(WebhookConfig(name="oa", url="https://oa.test/h?token=OAURLTOKEN77", secret="HMACSECRETq1w2",
                                  bearer_token="BEARERb1"), client=client(), clock=clock),
        DingTalkSink(DingTalkConfig(name="dt", access_token="DTTOKENx1", secret="DTSECx2"), client=client(),
                     clock=clock),
        FeishuSink(FeishuConfig(name="fs", hook_token="FSHOOKy1", secret="FSSECy2"), client=client(), clock=clock),
    ]


@pytest.mark.parametrize("script", [
    [],  # delivered
    [503, 503, {"errcode": 93000, "errmsg": "invalid webhook url key=ROBOTKEY9f8e7d", "code": 19021,
                "msg": "sign fail FSHOOKy1"}],
    [{"errcode": 42001, "errmsg": "expired access_token=ACCESSTOKENzz99"}, {"errcode": 40014, "errmsg": "bad"}] * 3,
    [401],
])
async def test_no_secret_in_logs_reprs_or_outcomes(make: Callable[..., Notification], script: list[Any],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # a CLI run in-process earlier in the session may have left these loggers at WARNING (as a CLI should)
    for name in ("httpx", "httpcore", "aiohttp.access", "aiohttp.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    shown: list[str] = []
    for sink in sinks(answering(list(script))):
        outcome = await sink.deliver(make())
        shown += [repr(sink), repr(sink.config), str(sink.config), sink.config.model_dump_json(),
                  repr(outcome), str(outcome.to_envelope().to_dict()), repr(sink.__dict__)]
        for value in vars(sink).values():
            shown.append(repr(value))
        await sink.aclose()
    shown.append(caplog.text)
    text = "\n".join(shown)
    assert "HTTP Request" in caplog.text  # httpx did log its requests, with the secrets masked
    for secret in SECRETS:
        assert secret not in text, secret


async def test_transport_exceptions_do_not_carry_urls(make: Callable[..., Notification]) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    sink = WeComRobotSink(WeComRobotConfig(name="robot", key="ROBOTKEY9f8e7d"),
                          client=httpx.AsyncClient(transport=httpx.MockTransport(fail)), clock=ManualClock())
    sink.policy = type(sink.policy)(max_attempts=2)
    outcome = await sink.deliver(make())
    assert outcome.status == "failed" and outcome.reason == "connection_error"
    assert "ROBOTKEY9f8e7d" not in repr(outcome)
    await sink.aclose()


async def test_app_outcome_masks_a_token_echoed_after_it_was_dropped(make: Callable[..., Notification]) -> None:
    handler = answering([{"errcode": 40014, "errmsg": "invalid ACCESSTOKENzz99"}] * 3)
    sink = WeComAppSink(WeComAppConfig(name="app", corp_id="ww1", agent_id=1, secret="CORPSECRETa1b2"),
                        client=httpx.AsyncClient(transport=httpx.MockTransport(handler)), clock=ManualClock())
    outcome = await sink.deliver(make())
    assert outcome.status == "dead_lettered" and outcome.errcode == 40014
    assert "ACCESSTOKENzz99" not in repr(outcome) and "invalid ***" in (outcome.detail or "")
    await sink.aclose()
