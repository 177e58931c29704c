"""Simulated WeCom group robot: keys, message types and sizes, 20/min, and fault injection."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from pipeline.clock import ManualClock

Mounted = Any


async def robot(sim: Mounted, body: Any, key: str = "robot-key") -> dict[str, Any]:
    status, answer = await sim.call("POST", "cgi-bin/webhook/send", body, params={"key": key})
    assert status == 200, answer
    return dict(answer)


def md(content: str) -> dict[str, Any]:
    return {"msgtype": "markdown", "markdown": {"content": content}}


PNG = b"\x89PNG\r\n\x1a\nsimulated"


@pytest.mark.parametrize(("body", "errcode", "errmsg"), [
    ({"msgtype": "text", "text": {"content": "hello", "mentioned_list": ["@all"]}}, 0, "ok"),
    ({"msgtype": "text", "text": {"content": "a" * 2049}}, 40058, "text.content exceed max length 2048"),
    ({"msgtype": "text", "text": {"content": "x", "mentioned_list": "alice"}}, 40058, None),
    (md("告" * 1365), 0, "ok"),  # 4095 bytes
    (md("a" * 4096), 0, "ok"),
    (md("a" * 4097), 40058, "markdown.content exceed max length 4096"),
    ({"msgtype": "markdown_v2", "markdown_v2": {"content": "| a |\n|---|\n| b |"}}, 0, "ok"),
    ({"msgtype": "news", "news": {"articles": [{"title": "t", "url": "https://x"}] * 8}}, 0, "ok"),
    ({"msgtype": "news", "news": {"articles": [{"title": "t", "url": "https://x"}] * 9}}, 40058, None),
    ({"msgtype": "image", "image": {"base64": base64.b64encode(PNG).decode(),
                                    "md5": hashlib.md5(PNG, usedforsecurity=False).hexdigest()}}, 0, "ok"),
    ({"msgtype": "image", "image": {"base64": base64.b64encode(PNG).decode(), "md5": "0" * 32}}, 40058, None),
    ({"msgtype": "file", "file": {"media_id": "m1"}}, 0, "ok"),
    ({"msgtype": "file", "file": {}}, 40058, None),
    ({"msgtype": "template_card", "template_card": {"card_type": "text_notice"}}, 0, "ok"),
    ({"msgtype": "template_card", "template_card": {"card_type": "poster"}}, 40058, None),
    ({"msgtype": "sms", "sms": {}}, 40008, "invalid message type"),
])
async def test_message_types_and_limits(wecom: Mounted, body: dict[str, Any], errcode: int,
                                        errmsg: str | None) -> None:
    answer = await robot(wecom, body)
    assert answer["errcode"] == errcode
    if errmsg:
        assert answer["errmsg"] == errmsg


async def test_unknown_key_is_93000(wecom: Mounted) -> None:
    assert (await robot(wecom, md("x"), key="removed"))["errcode"] == 93000
    entry = wecom.recorder.rejected("robot")[-1]
    assert entry.errcode == 93000 and entry.target == "*"


async def test_twenty_per_minute_per_robot(wecom: Mounted, clock: ManualClock) -> None:
    codes = []
    for i in range(25):
        clock.advance(1)
        codes.append((await robot(wecom, md(f"m{i}")))["errcode"])
    assert codes == [0] * 20 + [45009] * 5
    assert (await robot(wecom, md("other robot"), key="dev-key"))["errcode"] == 0
    clock.advance(36)  # the first sends (t=1..) have left the window
    assert (await robot(wecom, md("later")))["errcode"] == 0
    assert len(wecom.recorder.accepted("robot", "ops")) == 21


async def test_injected_faults(wecom: Mounted) -> None:
    status, pending = await wecom.call("POST", "_sim/faults", [
        {"kind": "errcode", "endpoint": "robot_send", "errcode": 45009, "errmsg": "api freq out of limit",
         "count": 2},
        {"kind": "http_status", "endpoint": "robot_send", "status": 502},
        {"kind": "errcode", "endpoint": "robot_send", "target": "dev", "errcode": -1},
    ])
    assert status == 200 and len(pending["pending"]) == 3
    codes = [(await robot(wecom, md(f"m{i}")))["errcode"] for i in range(2)]
    assert codes == [45009, 45009]
    status, _ = await wecom.call("POST", "cgi-bin/webhook/send", md("x"), params={"key": "robot-key"})
    assert status == 502
    assert (await robot(wecom, md("ok now")))["errcode"] == 0
    assert (await robot(wecom, md("dev"), key="dev-key"))["errcode"] == -1
    _, pending = await wecom.call("GET", "_sim/faults")
    assert pending["pending"] == []


async def test_slow_response_fault(wecom: Mounted) -> None:
    await wecom.call("POST", "_sim/faults", {"kind": "delay", "seconds": 0.05, "endpoint": "robot_send"})
    assert (await robot(wecom, md("slow")))["errcode"] == 0


async def test_token_faults(wecom: Mounted) -> None:
    _, body = await wecom.call("GET", "cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "app-secret"})
    tok = body["access_token"]
    msg = {"touser": "alice", "msgtype": "text", "agentid": 1000002, "text": {"content": "x"}}
    await wecom.call("POST", "_sim/faults", {"kind": "expire_tokens"})
    _, answer = await wecom.call("POST", "cgi-bin/message/send", msg, params={"access_token": tok})
    assert answer["errcode"] == 42001
    _, body = await wecom.call("GET", "cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "app-secret"})
    assert body["access_token"] != tok
    await wecom.call("POST", "_sim/faults", {"kind": "revoke_tokens"})
    _, answer = await wecom.call("POST", "cgi-bin/message/send", msg, params={"access_token": body["access_token"]})
    assert answer["errcode"] == 40014


async def test_bad_fault_is_refused(wecom: Mounted) -> None:
    status, body = await wecom.call("POST", "_sim/faults", {"kind": "explode"})
    assert status == 400 and body["error"] == "invalid fault"


async def test_admin_view_and_reset(wecom: Mounted) -> None:
    await robot(wecom, md("one"))
    await robot(wecom, md("x"), key="nope")
    status, view = await wecom.call("GET", "_sim/received", params={"outcome": "accepted"})
    assert status == 200 and view["count"] == 1 and view["totals"] == {"accepted": 1, "rejected": 1}
    row = view["received"][0]
    assert row["channel"] == "robot" and row["target"] == "ops" and row["body"] == md("one")
    assert row["at"] == 1_800_000_000
    assert "robot-key" not in str(view)
    await wecom.call("POST", "_sim/reset")
    _, view = await wecom.call("GET", "_sim/received")
    assert view["count"] == 0
