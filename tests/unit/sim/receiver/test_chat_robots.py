"""Simulated DingTalk and Feishu robots: signatures, keywords, sizes and rate limits; default configs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from pipeline.clock import ManualClock

Mounted = Any


def dingtalk_query(secret: str, ts_ms: int) -> dict[str, str]:
    sign = base64.b64encode(hmac.new(secret.encode(), f"{ts_ms}\n{secret}".encode(), hashlib.sha256).digest())
    return {"access_token": "dt-token", "timestamp": str(ts_ms), "sign": sign.decode()}


DT_TEXT = {"msgtype": "text", "text": {"content": "告警"}}


async def test_dingtalk_signature(dingtalk: Mounted, clock: ManualClock) -> None:
    now_ms = int(clock.time() * 1000)
    _, ok = await dingtalk.call("POST", "robot/send", DT_TEXT, params=dingtalk_query("SECdt", now_ms))
    assert ok == {"errcode": 0, "errmsg": "ok"}
    _, bad = await dingtalk.call("POST", "robot/send", DT_TEXT, params=dingtalk_query("SECwrong", now_ms))
    assert bad["errcode"] == 310000 and bad["errmsg"] == "sign not match"
    _, stale = await dingtalk.call("POST", "robot/send", DT_TEXT,
                                   params=dingtalk_query("SECdt", now_ms - 3_600_001))
    assert stale["errcode"] == 310000
    _, missing = await dingtalk.call("POST", "robot/send", DT_TEXT, params={"access_token": "dt-token"})
    assert missing["errcode"] == 310000
    _, unknown = await dingtalk.call("POST", "robot/send", DT_TEXT, params={"access_token": "nope"})
    assert unknown["errcode"] == 300001


async def test_dingtalk_keywords_size_and_types(dingtalk: Mounted) -> None:
    q = {"access_token": "kw-token"}
    assert (await dingtalk.call("POST", "robot/send", DT_TEXT, params=q))[1]["errcode"] == 0
    no_kw = {"msgtype": "text", "text": {"content": "hello"}}
    assert (await dingtalk.call("POST", "robot/send", no_kw, params=q))[1]["errcode"] == 310000
    huge = {"msgtype": "text", "text": {"content": "告警" + "x" * 20000}}
    assert (await dingtalk.call("POST", "robot/send", huge, params=q))[1]["errcode"] == 460101
    md_no_title = {"msgtype": "markdown", "markdown": {"text": "告警"}}
    assert (await dingtalk.call("POST", "robot/send", md_no_title, params=q))[1]["errcode"] == 40035


async def test_dingtalk_twenty_per_minute_then_ten_minute_throttle(dingtalk: Mounted, clock: ManualClock) -> None:
    q = {"access_token": "kw-token"}
    codes = []
    for _ in range(21):
        clock.advance(0.5)
        codes.append((await dingtalk.call("POST", "robot/send", DT_TEXT, params=q))[1]["errcode"])
    assert codes == [0] * 20 + [130101]
    clock.advance(120)
    assert (await dingtalk.call("POST", "robot/send", DT_TEXT, params=q))[1]["errcode"] == 130101
    clock.advance(600)
    assert (await dingtalk.call("POST", "robot/send", DT_TEXT, params=q))[1]["errcode"] == 0


def feishu_body(secret: str, ts: int, text: str = "告警") -> dict[str, Any]:
    sign = base64.b64encode(hmac.new(f"{ts}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()
    return {"timestamp": str(ts), "sign": sign, "msg_type": "text", "content": {"text": text}}


async def test_feishu_signature(feishu: Mounted, clock: ManualClock) -> None:
    now = int(clock.time())
    _, ok = await feishu.call("POST", "open-apis/bot/v2/hook/fs-token", feishu_body("fs-secret", now))
    assert ok["code"] == 0 and ok["StatusCode"] == 0
    _, bad = await feishu.call("POST", "open-apis/bot/v2/hook/fs-token", feishu_body("wrong", now))
    assert bad["code"] == 19021
    _, stale = await feishu.call("POST", "open-apis/bot/v2/hook/fs-token", feishu_body("fs-secret", now - 3601))
    assert stale["code"] == 19021
    _, unknown = await feishu.call("POST", "open-apis/bot/v2/hook/other", feishu_body("fs-secret", now))
    assert unknown["code"] == 19001
    _, bad_type = await feishu.call("POST", "open-apis/bot/v2/hook/open-token", {"msg_type": "sms", "content": {}})
    assert bad_type["code"] == 19002


async def test_feishu_rate_and_size_limits(feishu: Mounted, clock: ManualClock) -> None:
    url = "open-apis/bot/v2/hook/open-token"
    body = {"msg_type": "text", "content": {"text": "x"}}
    per_second = [(await feishu.call("POST", url, body))[1]["code"] for _ in range(6)]
    assert per_second == [0] * 5 + [11232]
    codes = []
    for _ in range(100):
        clock.advance(0.25)
        codes.append((await feishu.call("POST", url, body))[1]["code"])
    assert codes.count(0) == 95 and codes[-1] == 11232  # 100 per minute, the first 5 included
    huge = {"msg_type": "text", "content": {"text": "x" * (20 * 1024)}}
    assert (await feishu.call("POST", url, huge))[1]["code"] == 19036


async def test_default_configs_build_with_the_system_clock() -> None:
    from pipeline.sim.receiver import create_app, create_dingtalk_app, create_feishu_app
    from pipeline.sim.wecom import RECORDER_KEY
    from pipeline.sim.wecom import create_app as create_wecom

    for app in (create_app(), create_dingtalk_app(), create_feishu_app(), create_wecom()):
        assert abs(app[RECORDER_KEY].clock() - time.time()) < 5
