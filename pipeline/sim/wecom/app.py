"""The simulated WeCom API: gettoken, message/send (application messages) and webhook/send (group robots).

Behaviour, as the reference documents it (and chosen where it does not):
- gettoken: 40013 for a wrong corpid, 40001 for a secret no app has; while an app's token is valid the
  same token comes back with the seconds it has left (chosen), else a new one lives `token_ttl` seconds.
- message/send: 41001 without a token, 40014 for an unknown (or revoked) one, 42001 for an expired one;
  40056 when agentid is not the token's app; 40008 for an unknown msgtype; 44004 empty content; text over
  2048 bytes is truncated at a character boundary (doc 90236: "超过将截断"; `app_text_overflow="reject"`
  answers 40058 instead), markdown over 2048 bytes 40058; more than 1000 touser or 100 toparty/totag
  entries 40058; unknown users/parties/tags are listed in invaliduser/invalidparty/invalidtag
  and the rest still get the message; 81013 when nobody valid is left. Per member and app, 30/min,
  1000/h and 10,000/day, and per app seats x 200 person-messages a day (Beijing date): the excess is
  silently dropped (errcode 0; recorded as "dropped"). enable_duplicate_check: an
  identical JSON body within duplicate_check_interval (default 1800 s, at most 4 h) is delivered once and
  still answers errcode 0 with the first msgid (recorded as "deduplicated").
- webhook/send: 93000 for an unknown key; 40008 unknown msgtype; text <= 2048 bytes, markdown and
  markdown_v2 <= 4096 bytes (40058 "markdown.content exceed max length 4096"); news 1-8 articles; image
  base64 + matching md5; file/voice need media_id; template_card needs card_type; 20 accepted messages per
  minute per robot (sliding window; rejected calls do not count), 45009 beyond.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from pipeline.sim.receiver.recording import (
    CONFIG_KEY,
    FAULTS_KEY,
    RECORDER_KEY,
    Fault,
    FaultPlan,
    Recorder,
    SimClock,
    SlidingWindow,
    add_admin_routes,
    fault_http_response,
    json_response,
    read_json,
)
from pipeline.sim.wecom.config import SimApp, WeComSimConfig
from pipeline.sinks.delivery.splitting import truncate_utf8

APP_MSGTYPES = {"text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
                "miniprogram_notice", "template_card"}
ROBOT_MSGTYPES = {"text", "markdown", "markdown_v2", "image", "news", "file", "voice", "template_card"}


@dataclass(slots=True)
class _Token:
    agent_id: int
    expires_at: float
    expired: bool = False


class WeComState:
    """Tokens, rate windows and the duplicate-check memory of one simulated corp."""

    def __init__(self, config: WeComSimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.apps_by_secret: dict[str, SimApp] = {a.secret: a for a in config.apps}
        self.robots_by_key = {r.key: r.name for r in config.robots}
        self.users = set(config.users)
        self.reset()

    def reset(self) -> None:
        self.daily: dict[tuple[int, str, int], int] = {}  # (agent, member or "*", Beijing date) -> deliveries
        self.tokens: dict[str, _Token] = {}
        self.robot_windows: dict[str, SlidingWindow] = {}
        self.member_windows: dict[tuple[int, str], tuple[SlidingWindow, SlidingWindow]] = {}
        self.sent: dict[tuple[int, bytes], tuple[float, int]] = {}
        self.msgids = 0

    def expire_tokens(self) -> None:
        for token in self.tokens.values():
            token.expired = True

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def token_for(self, app: SimApp) -> tuple[str, int]:
        now = self.clock()
        for value, token in self.tokens.items():
            if token.agent_id == app.agent_id and not token.expired and token.expires_at > now:
                return value, int(token.expires_at - now)
        value = secrets.token_urlsafe(48)
        self.tokens[value] = _Token(app.agent_id, now + self.config.token_ttl)
        return value, self.config.token_ttl

    def check_token(self, value: str | None) -> tuple[_Token | None, int, str]:
        if not value:
            return None, 41001, "access_token missing"
        token = self.tokens.get(value)
        if token is None:
            return None, 40014, "invalid access_token"
        if token.expired or token.expires_at <= self.clock():
            return None, 42001, "access_token expired"
        return token, 0, "ok"

    def member_windows_for(self, agent_id: int, member: str) -> tuple[SlidingWindow, SlidingWindow]:
        key = (agent_id, member)
        if key not in self.member_windows:
            self.member_windows[key] = (SlidingWindow(self.config.member_per_minute, 60.0),
                                        SlidingWindow(self.config.member_per_hour, 3600.0))
        return self.member_windows[key]

    def daily_allows(self, agent_id: int, member: str, now: float) -> bool:
        """The per-member and per-app daily caps (calendar day in Beijing time, UTC+8)."""
        day = int((now + 8 * 3600) // 86400)
        seats = self.config.account_seats or len(self.users)
        mine, app = (agent_id, member, day), (agent_id, "*", day)
        if self.daily.get(mine, 0) >= self.config.member_per_day or \
                self.daily.get(app, 0) >= seats * self.config.app_per_seat_per_day:
            return False
        self.daily[mine] = self.daily.get(mine, 0) + 1
        self.daily[app] = self.daily.get(app, 0) + 1
        return True

    def robot_window(self, name: str) -> SlidingWindow:
        if name not in self.robot_windows:
            self.robot_windows[name] = SlidingWindow(self.config.robot_per_minute, 60.0)
        return self.robot_windows[name]

    def next_msgid(self) -> str:
        self.msgids += 1
        return f"sim-msg-{self.msgids:08d}"


STATE_KEY = web.AppKey("wecom_state", WeComState)


def _err(errcode: int, errmsg: str, **extra: Any) -> web.Response:
    return json_response({"errcode": errcode, "errmsg": errmsg, **extra})


def _blen(value: Any) -> int:
    return len(value.encode("utf-8")) if isinstance(value, str) else 0


def _content_error(kind: str, body: dict[str, Any], limit: int) -> tuple[int, str] | None:
    section = body.get(kind)
    content = section.get("content") if isinstance(section, dict) else None
    if not isinstance(content, str) or not content:
        return 44004, f"{kind}.content is empty"
    if _blen(content) > limit:
        return 40058, f"{kind}.content exceed max length {limit}"
    return None


def _robot_error(body: dict[str, Any], cfg: WeComSimConfig) -> tuple[int, str] | None:
    msgtype = body.get("msgtype")
    if msgtype not in ROBOT_MSGTYPES:
        return 40008, "invalid message type"
    section = body.get(msgtype)
    if not isinstance(section, dict):
        return 40058, f"{msgtype} is missing"
    if msgtype == "text":
        for field in ("mentioned_list", "mentioned_mobile_list"):
            value = section.get(field, [])
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                return 40058, f"text.{field} must be a list of strings"
        return _content_error("text", body, cfg.robot_text_max_bytes)
    if msgtype in ("markdown", "markdown_v2"):
        return _content_error(msgtype, body, cfg.robot_markdown_max_bytes)
    if msgtype == "news":
        articles = section.get("articles")
        if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
            return 40058, "news.articles must hold 1 to 8 articles"
        if not all(isinstance(a, dict) and a.get("title") and a.get("url") for a in articles):
            return 40058, "each news article needs title and url"
        return None
    if msgtype == "image":
        try:
            data = base64.b64decode(section.get("base64", ""), validate=True)
        except (binascii.Error, ValueError, TypeError):
            return 40058, "image.base64 is not base64"
        if not data or len(data) > 2 * 1024 * 1024:
            return 40058, "image size must be 1 byte to 2 MB"
        if hashlib.md5(data, usedforsecurity=False).hexdigest() != section.get("md5"):
            return 40058, "image.md5 does not match"
        return None
    if msgtype in ("file", "voice"):
        return None if section.get("media_id") else (40058, f"{msgtype}.media_id is missing")
    if section.get("card_type") not in ("text_notice", "news_notice"):
        return 40058, "template_card.card_type must be text_notice or news_notice"
    return None


def _app_error(body: dict[str, Any], cfg: WeComSimConfig) -> tuple[int, str] | None:
    msgtype = body.get("msgtype")
    if msgtype not in APP_MSGTYPES:
        return 40008, "invalid message type"
    if not isinstance(body.get(msgtype), dict):
        return 40058, f"{msgtype} is missing"
    for field, limit in (("touser", cfg.touser_max), ("toparty", cfg.toparty_max), ("totag", cfg.totag_max)):
        if len(_split(body.get(field))) > limit:
            return 40058, f"{field} exceed max count {limit}"
    if msgtype == "text":
        limit = cfg.app_text_max_bytes if cfg.app_text_overflow == "reject" else 2**31
        return _content_error("text", body, limit)
    if msgtype == "markdown":
        return _content_error("markdown", body, cfg.app_markdown_max_bytes)
    if msgtype == "textcard":
        card = body["textcard"]
        if not (card.get("title") and card.get("description") and card.get("url")):
            return 40058, "textcard needs title, description and url"
    return None


def _split(value: Any) -> list[str]:
    if isinstance(value, int):
        value = str(value)
    return [v for v in value.split("|") if v] if isinstance(value, str) else []


def _apply_error_fault(fault: Fault | None) -> web.Response | None:
    if fault is None:
        return None
    if fault.kind == "http_status":
        return fault_http_response(fault)
    return _err(fault.errcode, fault.errmsg)


async def gettoken(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    recorder = request.app[RECORDER_KEY]
    fault = await request.app[FAULTS_KEY].before("gettoken", "*")
    if (reply := _apply_error_fault(fault)) is not None:
        recorder.record("gettoken", "*", "rejected", status=reply.status, detail="injected fault",
                        errcode=fault.errcode if fault and fault.kind == "errcode" else None)
        return reply
    if request.query.get("corpid") != state.config.corp_id:
        recorder.record("gettoken", "*", "rejected", errcode=40013, detail="invalid corpid")
        return _err(40013, "invalid corpid")
    app = state.apps_by_secret.get(request.query.get("corpsecret", ""))
    if app is None:
        recorder.record("gettoken", "*", "rejected", errcode=40001, detail="invalid credential")
        return _err(40001, "invalid credential")
    token, expires_in = state.token_for(app)
    recorder.record("gettoken", str(app.agent_id), "accepted", errcode=0)
    return _err(0, "ok", access_token=token, expires_in=expires_in)


async def message_send(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    recorder = request.app[RECORDER_KEY]
    cfg = state.config
    token, errcode, errmsg = state.check_token(request.query.get("access_token"))
    _, body = await read_json(request)
    target = str(token.agent_id) if token else "*"

    def reject(code: int, msg: str, status: int = 200) -> web.Response:
        recorder.record("app", target, "rejected", status=status, errcode=code, detail=msg, body=body)
        return _err(code, msg)

    if token is None:
        return reject(errcode, errmsg)
    fault = await request.app[FAULTS_KEY].before("message_send", target)
    if (reply := _apply_error_fault(fault)) is not None:
        recorder.record("app", target, "rejected", status=reply.status, detail="injected fault", body=body,
                        errcode=fault.errcode if fault and fault.kind == "errcode" else None)
        return reply
    if not isinstance(body, dict):
        return reject(47001, "data format error")
    if body.get("agentid") != token.agent_id:
        return reject(40056, "invalid agentid")
    if (problem := _app_error(body, cfg)) is not None:
        return reject(*problem)
    truncated = body["msgtype"] == "text" and _blen(body["text"]["content"]) > cfg.app_text_max_bytes
    if truncated:  # what the members see; the duplicate check still compares the body as sent
        delivered_body = {**body, "text": {**body["text"],
                                           "content": truncate_utf8(body["text"]["content"], cfg.app_text_max_bytes,
                                                                    ellipsis="")}}
    else:
        delivered_body = body

    users = _split(body.get("touser"))
    everyone = "@all" in users
    valid_users = sorted(state.users) if everyone else [u for u in users if u in state.users]
    invalid_users = [] if everyone else [u for u in users if u not in state.users]
    parties, tags = _split(body.get("toparty")), _split(body.get("totag"))
    invalid_parties = [p for p in parties if p not in cfg.parties]
    invalid_tags = [t for t in tags if t not in cfg.tags]
    members = dict.fromkeys(valid_users)
    for p in parties:
        members.update(dict.fromkeys(cfg.parties.get(p, [])))
    for t in tags:
        members.update(dict.fromkeys(cfg.tags.get(t, [])))
    extra = {"invaliduser": "|".join(invalid_users), "invalidparty": "|".join(invalid_parties),
             "invalidtag": "|".join(invalid_tags)}
    if not members and len(invalid_parties) == len(parties) and len(invalid_tags) == len(tags):
        return reject(81013, "user & party & tag all invalid")

    now = state.clock()
    if body.get("enable_duplicate_check") == 1:
        interval = body.get("duplicate_check_interval") or cfg.duplicate_check_default
        interval = min(int(interval), cfg.duplicate_check_max)
        digest = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).digest()
        seen = state.sent.get((token.agent_id, digest))
        if seen is not None and now - seen[0] < interval:
            recorder.record("app", target, "deduplicated", body=body, recipients=tuple(members))
            return _err(0, "ok", msgid=f"sim-msg-{seen[1]:08d}", **extra)
        state.sent[(token.agent_id, digest)] = (now, state.msgids + 1)

    delivered, dropped = [], []
    for member in members:
        minute, hour = state.member_windows_for(token.agent_id, member)
        if minute.allows(now) and hour.allows(now) and state.daily_allows(token.agent_id, member, now):
            minute.add(now)
            hour.add(now)
            delivered.append(member)
        else:
            dropped.append(member)
    if delivered:
        recorder.record("app", target, "accepted", body=delivered_body, recipients=tuple(delivered), errcode=0,
                        detail=f"text.content truncated to {cfg.app_text_max_bytes} bytes" if truncated else "")
    if dropped:
        recorder.record("app", target, "dropped", body=delivered_body, recipients=tuple(dropped), errcode=0,
                        detail="per-member (30/min, 1000/h, 10000/day) or per-app daily limit: dropped silently")
    return _err(0, "ok", msgid=state.next_msgid(), **extra)


async def robot_send(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    recorder = request.app[RECORDER_KEY]
    name = state.robots_by_key.get(request.query.get("key", ""))
    _, body = await read_json(request)
    if name is None:
        recorder.record("robot", "*", "rejected", errcode=93000, detail="invalid webhook url", body=body)
        return _err(93000, "invalid webhook url, please check")
    fault = await request.app[FAULTS_KEY].before("robot_send", name)
    if (reply := _apply_error_fault(fault)) is not None:
        recorder.record("robot", name, "rejected", status=reply.status, detail="injected fault", body=body,
                        errcode=fault.errcode if fault and fault.kind == "errcode" else None)
        return reply
    if not isinstance(body, dict):
        recorder.record("robot", name, "rejected", errcode=47001, detail="data format error")
        return _err(47001, "data format error")
    if (problem := _robot_error(body, state.config)) is not None:
        recorder.record("robot", name, "rejected", errcode=problem[0], detail=problem[1], body=body)
        return _err(*problem)
    now = state.clock()
    window = state.robot_window(name)
    if not window.allows(now):
        recorder.record("robot", name, "rejected", errcode=45009, detail="api freq out of limit", body=body)
        return _err(45009, "api freq out of limit")
    window.add(now)
    recorder.record("robot", name, "accepted", errcode=0, body=body)
    return _err(0, "ok")


def create_app(config: WeComSimConfig | None = None, *, clock: SimClock | None = None) -> web.Application:
    """The simulated WeCom API as an aiohttp app with relative routes (mount it, e.g. at /wecom/):
    GET cgi-bin/gettoken, POST cgi-bin/message/send, POST cgi-bin/webhook/send and the _sim/ admin routes.
    `clock` (unix seconds) drives token expiry and rate windows; the default is time.time."""
    cfg = config or WeComSimConfig()
    now = clock or time.time
    state = WeComState(cfg, now)
    app = web.Application()
    app[CONFIG_KEY] = cfg
    app[STATE_KEY] = state
    app[RECORDER_KEY] = Recorder(now, cfg.recorder_limit)

    def immediate(fault: Fault) -> bool:
        if fault.kind == "expire_tokens":
            state.expire_tokens()
            return True
        if fault.kind == "revoke_tokens":
            state.revoke_tokens()
            return True
        return False

    app[FAULTS_KEY] = FaultPlan(immediate)

    app.router.add_get("/cgi-bin/gettoken", gettoken)
    app.router.add_post("/cgi-bin/message/send", message_send)
    app.router.add_post("/cgi-bin/webhook/send", robot_send)
    add_admin_routes(app, on_reset=state.reset)
    return app
