"""WeCom robot, DingTalk and Feishu sinks against the simulators over TCP."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from pipeline.sinks.delivery.notification import AlertItem, Notification
from pipeline.sinks.delivery.splitting import utf8_len
from pipeline.sinks.dingtalk import DingTalkSink
from pipeline.sinks.feishu import FeishuSink
from pipeline.sinks.wecom_robot import WeComRobotSink

pytestmark = pytest.mark.integration

Sims = Any


def notification(key: str = "n-1", n_alerts: int = 1, description: str = "10 分钟内发信失败 12 次") -> Notification:
    return Notification(
        receiver="ops", group_key="g:ManyFailedSends", idempotency_key=key, corp_id="corp1",
        alerts=tuple(AlertItem(labels={"alertname": "ManyFailedSends", "userid": f"user{i}@corp.example"},
                               annotations={"description": description}, severity="critical",
                               summary=f"user{i} 发信失败过多") for i in range(n_alerts)))


def max_in_window(times: Sequence[float], window: float) -> int:
    """Most events in any closed interval of `window` seconds."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_robot_receives_text_and_markdown(sims: Sims) -> None:
    async with WeComRobotSink(sims.robot_config(msgtype="text", mentioned_list=["@all"]), clock=sims.clock) as s:
        text = await s.deliver(notification("n-text"))
    async with WeComRobotSink(sims.robot_config(msgtype="markdown"), clock=sims.clock) as s:
        markdown = await s.deliver(notification("n-md"))
    assert (text.status, markdown.status) == ("delivered", "delivered")
    first, second = sims.recorder(sims.wecom).accepted("robot", "ops")
    assert first.body["msgtype"] == "text" and "user0 发信失败过多" in first.body["text"]["content"]
    assert first.body["text"]["mentioned_list"] == ["@all"]
    assert second.body["msgtype"] == "markdown" and second.body["markdown"]["content"].startswith("## [严重]")


async def test_robot_45009_is_retried_and_delivered_later(sims: Sims) -> None:
    sims.fault(sims.wecom, kind="errcode", endpoint="robot_send", errcode=45009, errmsg="api freq out of limit",
               count=3)
    async with WeComRobotSink(sims.robot_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert outcome.status == "delivered" and outcome.attempts == 4
    assert all(delay >= 3.0 for delay in sims.clock.slept)  # rate-limit floor between retries
    recorder = sims.recorder(sims.wecom)
    assert len(recorder.rejected("robot")) == 3 and len(recorder.accepted("robot")) == 1


async def test_robot_busy_5xx_and_45033_are_retried(sims: Sims) -> None:
    for fault in ({"kind": "errcode", "errcode": -1}, {"kind": "http_status", "status": 502},
                  {"kind": "errcode", "errcode": 45033, "errmsg": "concurrent limit"}):
        sims.fault(sims.wecom, endpoint="robot_send", **fault)
    async with WeComRobotSink(sims.robot_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.attempts) == ("delivered", 4)


async def test_robot_timeout_is_retried(sims: Sims) -> None:
    sims.fault(sims.wecom, kind="delay", endpoint="robot_send", seconds=0.6)
    config = sims.robot_config(http={"timeout": 0.2, "connect_timeout": 1.0})
    async with WeComRobotSink(config, clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.attempts) == ("delivered", 2)
    recorder = sims.recorder(sims.wecom)
    async with asyncio.timeout(5):  # the slow first request still lands: at-least-once
        await recorder.wait_for(lambda r: len(r.accepted("robot")) == 2)


async def test_robot_93000_dead_letters_with_operator_alert(sims: Sims) -> None:
    async with WeComRobotSink(sims.robot_config(key="a-removed-robot"), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.errcode, outcome.attempts, outcome.operator_alert) == (
        "dead_lettered", 93000, 1, True)
    assert "a-removed-robot" not in repr(outcome.to_dict())


async def test_robot_40008_dead_letters(sims: Sims) -> None:
    sims.fault(sims.wecom, kind="errcode", endpoint="robot_send", errcode=40008, errmsg="invalid message type")
    async with WeComRobotSink(sims.robot_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.reason) == ("dead_lettered", "errcode_40008")


async def test_10kb_cjk_markdown_alert_arrives_in_parts(sims: Sims) -> None:
    big = notification(n_alerts=30, description="收件人域名拒收，可能被列入黑名单，请检查 SPF、DKIM、DMARC。" * 2)
    async with WeComRobotSink(sims.robot_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(big)
    accepted = sims.recorder(sims.wecom).accepted("robot")
    assert outcome.status == "delivered" and outcome.parts == len(accepted) >= 3
    contents = [a.body["markdown"]["content"] for a in accepted]
    assert all(utf8_len(c) <= 4096 for c in contents)
    assert [c.split("\n", 1)[0] for c in contents] == [f"({i}/{len(contents)})" for i in range(1, len(contents) + 1)]
    whole = "".join(c.split("\n", 1)[1] for c in contents)
    assert all(f"**user{i} 发信失败过多**" in whole for i in range(30))
    assert whole.count("请检查 SPF、DKIM、DMARC。") == 30 * 2


async def test_two_hundred_notifications_for_one_robot_respect_twenty_per_minute(sims: Sims) -> None:
    async with WeComRobotSink(sims.robot_config(msgtype="text"), clock=sims.clock) as sink:
        outcomes = [await sink.deliver(notification(f"n-{i}")) for i in range(200)]
    recorder = sims.recorder(sims.wecom)
    assert all(o.status == "delivered" and o.attempts == 1 for o in outcomes)
    assert recorder.rejected("robot") == []
    times = [e.at for e in recorder.accepted("robot", "ops")]
    assert len(times) == 200  # none lost
    assert max_in_window(times, 60.0) <= 20
    assert times[-1] - times[0] <= (200 - 5) * 60 / 15  # paced at the limit, not slower


async def test_two_receivers_on_one_robot_share_its_limit(sims: Sims) -> None:
    sinks = [WeComRobotSink(sims.robot_config(name=f"r{i}"), clock=sims.clock) for i in range(2)]
    assert sinks[0].bucket is sinks[1].bucket
    outcomes = [await sinks[i % 2].deliver(notification(f"c-{i}")) for i in range(60)]
    for sink in sinks:
        await sink.aclose()
    recorder = sims.recorder(sims.wecom)
    assert all(o.status == "delivered" for o in outcomes) and recorder.rejected("robot") == []
    assert max_in_window([e.at for e in recorder.accepted("robot")], 60.0) <= 20


async def test_dingtalk_signed_delivery_and_bad_secret(sims: Sims) -> None:
    async with DingTalkSink(sims.dingtalk_config(at_mobiles=["13800001111"]), clock=sims.clock) as sink:
        ok = await sink.deliver(notification())
    async with DingTalkSink(sims.dingtalk_config(secret="SECwrong"), clock=sims.clock) as sink:
        bad = await sink.deliver(notification())
    assert ok.status == "delivered"
    [entry] = sims.recorder(sims.dingtalk).accepted("dingtalk", "ops")
    assert entry.body["msgtype"] == "markdown" and "@13800001111" in entry.body["markdown"]["text"]
    assert (bad.status, bad.errcode, bad.operator_alert) == ("dead_lettered", 310000, True)


async def test_dingtalk_paced_under_its_limit(sims: Sims) -> None:
    async with DingTalkSink(sims.dingtalk_config(msgtype="text"), clock=sims.clock) as sink:
        outcomes = [await sink.deliver(notification(f"d-{i}")) for i in range(45)]
    recorder = sims.recorder(sims.dingtalk)
    assert all(o.status == "delivered" for o in outcomes) and recorder.rejected("dingtalk") == []
    assert max_in_window([e.at for e in recorder.accepted("dingtalk")], 60.0) <= 20


async def test_feishu_signed_delivery_and_bad_secret(sims: Sims) -> None:
    async with FeishuSink(sims.feishu_config(), clock=sims.clock) as sink:
        ok = await sink.deliver(notification())
    async with FeishuSink(sims.feishu_config(secret="wrong"), clock=sims.clock) as sink:
        bad = await sink.deliver(notification())
    assert ok.status == "delivered"
    [entry] = sims.recorder(sims.feishu).accepted("feishu", "ops")
    assert entry.body["msg_type"] == "interactive" and entry.body["card"]["header"]["template"] == "red"
    assert (bad.status, bad.errcode) == ("dead_lettered", 19021)


async def test_feishu_two_limits_and_11232_retry(sims: Sims) -> None:
    sims.fault(sims.feishu, kind="errcode", endpoint="feishu", errcode=11232, errmsg="frequency limited")
    async with FeishuSink(sims.feishu_config(msg_type="text"), clock=sims.clock) as sink:
        outcomes = [await sink.deliver(notification(f"f-{i}")) for i in range(130)]
    recorder = sims.recorder(sims.feishu)
    assert all(o.status == "delivered" for o in outcomes) and outcomes[0].attempts == 2
    times = [e.at for e in recorder.accepted("feishu")]
    assert len(times) == 130 and max_in_window(times, 1.0) <= 5 and max_in_window(times, 60.0) <= 100


async def test_no_secret_reaches_logs(sims: Sims, secrets: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    # a CLI run in-process earlier in the session may have left these loggers at WARNING (as a CLI should)
    for name in ("httpx", "httpcore", "aiohttp.access", "aiohttp.client"):
        caplog.set_level(logging.DEBUG, logger=name)
    sims.fault(sims.wecom, kind="errcode", endpoint="robot_send", errcode=45009)
    for sink in (WeComRobotSink(sims.robot_config(), clock=sims.clock),
                 DingTalkSink(sims.dingtalk_config(), clock=sims.clock),
                 FeishuSink(sims.feishu_config(), clock=sims.clock)):
        assert (await sink.deliver(notification())).status == "delivered"
        await sink.aclose()
    # the logs were captured at DEBUG: each sink's own delivery line and the destinations' request lines
    assert caplog.text.count("delivered in 1 parts") == 3
    assert "POST /wecom/cgi-bin/webhook/send" in caplog.text
    for name, value in secrets.items():
        assert value not in caplog.text, name
