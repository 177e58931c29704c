"""Simulated DingTalk and Feishu/Lark custom robots.

DingTalk (POST robot/send?access_token=&timestamp=&sign=): unknown token -> 300001; for a robot with a
secret, sign must be base64(HMAC-SHA256(key=secret, msg=timestamp_ms + "\\n" + secret)) (the query
parameter URL-decoded) and the ms timestamp within 1 h, else 310000 "sign not match"; keywords, when
configured, must appear in the content (310000); body over 20000 bytes -> 460101; msgtype one of text,
link, markdown, actionCard, feedCard (else 40035); 20 accepted messages per minute per robot, and going
over throttles the robot for 10 minutes (130101 "send too fast").

Feishu (POST open-apis/bot/v2/hook/<token>): unknown token -> 19001; body over 20 KB -> 19036; for a robot
with a secret, the JSON body's timestamp (seconds, within 1 h) and sign = base64(HMAC-SHA256(
key=timestamp + "\\n" + secret, msg=b"")) must match, else 19021; msg_type one of text, post, image,
share_chat, interactive (else 19002); at most 5 per second and 100 per minute per robot, 11232 beyond.
Errors answer HTTP 200 with the code in the body, as both services do.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from pipeline.sim.receiver.recording import (
    CONFIG_KEY,
    FAULTS_KEY,
    RECORDER_KEY,
    FaultPlan,
    Recorder,
    SimClock,
    SlidingWindow,
    add_admin_routes,
    fault_http_response,
    json_response,
    read_json,
)

DINGTALK_MSGTYPES = {"text", "link", "markdown", "actionCard", "feedCard"}
FEISHU_MSGTYPES = {"text", "post", "image", "share_chat", "interactive"}


class ChatRobot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1)
    token: str = Field(..., min_length=1, repr=False, description="DingTalk access_token / Feishu hook token")
    secret: str | None = Field(None, repr=False, description="signing secret; None = no signature check")
    keywords: list[str] = Field(default_factory=list, description="one must appear in the message")


class DingTalkSimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    robots: list[ChatRobot] = Field(default_factory=lambda: [
        ChatRobot(name="ops", token="sim-dingtalk-token", secret="SECsim-dingtalk-secret")])
    per_minute: int = 20
    throttle_seconds: float = 600.0
    max_body_bytes: int = 20000
    sign_tolerance_seconds: float = 3600.0
    recorder_limit: int = 50_000


class FeishuSimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    robots: list[ChatRobot] = Field(default_factory=lambda: [
        ChatRobot(name="ops", token="sim-feishu-token", secret="sim-feishu-secret")])
    per_second: int = 5
    per_minute: int = 100
    max_body_bytes: int = 20 * 1024
    sign_tolerance_seconds: float = 3600.0
    recorder_limit: int = 50_000


def dingtalk_expected_sign(secret: str, timestamp_ms: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def feishu_expected_sign(secret: str, timestamp_s: str) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _texts(value: Any) -> str:
    """Every string inside a message body, for keyword checks."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(_texts(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(_texts(v) for v in value)
    return ""


def create_dingtalk_app(config: DingTalkSimConfig | None = None, *, clock: SimClock | None = None,
                        wall_clock: SimClock | None = None) -> web.Application:
    """Simulated DingTalk robots with relative routes (mount at /dingtalk/): POST robot/send + _sim/.
    `clock` drives rate windows and the recorder; signature timestamps are checked against `wall_clock`
    (default: real time, what senders sign with)."""
    cfg = config or DingTalkSimConfig()
    now = clock or time.time
    wall = wall_clock or time.time
    robots = {r.token: r for r in cfg.robots}
    windows: dict[str, SlidingWindow] = {}
    throttled_until: dict[str, float] = {}
    app = web.Application()
    app[CONFIG_KEY] = cfg
    recorder = app[RECORDER_KEY] = Recorder(now, cfg.recorder_limit)
    faults = app[FAULTS_KEY] = FaultPlan()

    def reset() -> None:
        windows.clear()
        throttled_until.clear()

    async def send(request: web.Request) -> web.Response:
        raw, body = await read_json(request)
        robot = robots.get(request.query.get("access_token", ""))
        target = robot.name if robot else "*"

        def answer(errcode: int, errmsg: str) -> web.Response:
            recorder.record("dingtalk", target, "rejected" if errcode else "accepted", errcode=errcode,
                            detail="" if errcode == 0 else errmsg, body=body)
            return json_response({"errcode": errcode, "errmsg": errmsg})

        if robot is None:
            return answer(300001, "token is not exist")
        fault = await faults.before("dingtalk", robot.name)
        if fault is not None:
            recorder.record("dingtalk", target, "rejected", status=fault.status, detail="injected fault", body=body)
            if fault.kind == "http_status":
                return fault_http_response(fault)
            return json_response({"errcode": fault.errcode, "errmsg": fault.errmsg})
        if robot.secret is not None:
            timestamp, sign = request.query.get("timestamp", ""), request.query.get("sign", "")
            try:
                fresh = abs(wall() * 1000 - int(timestamp)) <= cfg.sign_tolerance_seconds * 1000
            except ValueError:
                fresh = False
            if not fresh:
                return answer(310000, "sign not match, timestamp is invalid")
            if not hmac.compare_digest(dingtalk_expected_sign(robot.secret, timestamp), sign):
                return answer(310000, "sign not match")
        if len(raw) > cfg.max_body_bytes:
            return answer(460101, "message too long")
        if not isinstance(body, dict):
            return answer(40035, "invalid json body")
        msgtype = body.get("msgtype")
        if msgtype not in DINGTALK_MSGTYPES or not isinstance(body.get(msgtype), dict):
            return answer(40035, "invalid msgtype")
        if msgtype == "markdown" and not (body["markdown"].get("title") and body["markdown"].get("text")):
            return answer(40035, "markdown needs title and text")
        if robot.keywords and not any(k in _texts(body.get(msgtype)) for k in robot.keywords):
            return answer(310000, "keywords not in content")
        t = now()
        if throttled_until.get(robot.name, 0.0) > t:
            return answer(130101, "send too fast, exceed 20 times per minute")
        window = windows.setdefault(robot.name, SlidingWindow(cfg.per_minute, 60.0))
        if not window.allows(t):
            throttled_until[robot.name] = t + cfg.throttle_seconds
            return answer(130101, "send too fast, exceed 20 times per minute")
        window.add(t)
        return answer(0, "ok")

    add_admin_routes(app, on_reset=reset)
    app.router.add_post("/robot/send", send)
    return app


def create_feishu_app(config: FeishuSimConfig | None = None, *, clock: SimClock | None = None,
                      wall_clock: SimClock | None = None) -> web.Application:
    """Simulated Feishu robots with relative routes (mount at /feishu/): POST open-apis/bot/v2/hook/{token}
    + _sim/. Clocks as for `create_dingtalk_app`."""
    cfg = config or FeishuSimConfig()
    now = clock or time.time
    wall = wall_clock or time.time
    robots = {r.token: r for r in cfg.robots}
    windows: dict[str, tuple[SlidingWindow, SlidingWindow]] = {}
    app = web.Application()
    app[CONFIG_KEY] = cfg
    recorder = app[RECORDER_KEY] = Recorder(now, cfg.recorder_limit)
    faults = app[FAULTS_KEY] = FaultPlan()

    async def hook(request: web.Request) -> web.Response:
        raw, body = await read_json(request)
        robot = robots.get(request.match_info["token"])
        target = robot.name if robot else "*"

        def answer(code: int, msg: str) -> web.Response:
            recorder.record("feishu", target, "rejected" if code else "accepted", errcode=code,
                            detail="" if code == 0 else msg, body=body)
            if code == 0:
                return json_response({"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {},
                                      "msg": "success"})
            return json_response({"code": code, "msg": msg, "data": {}})

        if robot is None:
            return answer(19001, "param invalid: incoming webhook access token invalid")
        fault = await faults.before("feishu", robot.name)
        if fault is not None:
            recorder.record("feishu", target, "rejected", status=fault.status, detail="injected fault", body=body)
            if fault.kind == "http_status":
                return fault_http_response(fault)
            return json_response({"code": fault.errcode, "msg": fault.errmsg, "data": {}})
        if len(raw) > cfg.max_body_bytes:
            return answer(19036, "request body too large")
        if not isinstance(body, dict):
            return answer(9499, "Bad Request")
        if robot.secret is not None:
            timestamp, sign = str(body.get("timestamp", "")), body.get("sign")
            try:
                fresh = abs(wall() - int(timestamp)) <= cfg.sign_tolerance_seconds
            except ValueError:
                fresh = False
            if not fresh or not isinstance(sign, str) or not hmac.compare_digest(
                    feishu_expected_sign(robot.secret, timestamp), sign):
                return answer(19021, "sign match fail or timestamp is not within one hour from current time")
        if body.get("msg_type") not in FEISHU_MSGTYPES:
            return answer(19002, "params error, msg_type need")
        content = body.get("card") if body.get("msg_type") == "interactive" else body.get("content")
        if not isinstance(content, dict):
            return answer(19002, "params error, content or card missing")
        if robot.keywords and not any(k in _texts(content) for k in robot.keywords):
            return answer(19024, "Key Words Not Found")
        t = now()
        second, minute = windows.setdefault(robot.name, (SlidingWindow(cfg.per_second, 1.0),
                                                         SlidingWindow(cfg.per_minute, 60.0)))
        if not (second.allows(t) and minute.allows(t)):
            return answer(11232, "frequency limited")
        second.add(t)
        minute.add(t)
        return answer(0, "success")

    add_admin_routes(app, on_reset=windows.clear)
    app.router.add_post("/open-apis/bot/v2/hook/{token}", hook)
    return app
