"""Each destination's encoder and request builder, with an in-process transport (no network)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jsonschema
import orjson
import pytest

from pipeline.sinks.delivery.clock import ManualClock
from pipeline.sinks.delivery.notification import AlertItem, Notification
from pipeline.sinks.delivery.splitting import utf8_len
from pipeline.sinks.dingtalk import DingTalkConfig, DingTalkSink, dingtalk_sign
from pipeline.sinks.feishu import FeishuConfig, FeishuSink, feishu_sign
from pipeline.sinks.webhook import WebhookConfig, WebhookSink
from pipeline.sinks.webhook.encoder import SCHEMA_PATH
from pipeline.sinks.wecom_app import UserMapper, WeComAppConfig, WeComAppSink
from pipeline.sinks.wecom_app.encoder import AppEncoder
from pipeline.sinks.wecom_app.service import AccessTokenCache
from pipeline.sinks.wecom_robot import WeComRobotConfig, WeComRobotSink
from pipeline.sinks.wecom_robot.encoder import RobotEncoder

Make = Callable[..., Notification]


class Capture:
    """A MockTransport handler recording requests and answering from a function."""

    def __init__(self, answer: Callable[[httpx.Request], dict[str, Any]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda r: {"errcode": 0, "errmsg": "ok"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answer(request))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    def bodies(self) -> list[Any]:
        return [orjson.loads(r.content) for r in self.requests if r.content]


def big_notification(make: Make, n_alerts: int = 40) -> Notification:
    return make(n_alerts=n_alerts)


def test_robot_markdown_parts_and_mentions(make: Make) -> None:
    enc = RobotEncoder(WeComRobotConfig(name="r", key="k", mentioned_list=["zhangsan"]))
    msgs = enc.encode(big_notification(make))
    assert len(msgs) > 1
    for m in msgs:
        assert m.body["msgtype"] == "markdown"
        assert utf8_len(m.body["markdown"]["content"]) <= 4096
    assert msgs[0].body["markdown"]["content"].startswith("(1/")
    assert "<@zhangsan>" in msgs[0].body["markdown"]["content"]
    assert all("<@zhangsan>" not in m.body["markdown"]["content"] for m in msgs[1:])


def test_robot_text_limit_and_mention_lists(make: Make) -> None:
    cfg = WeComRobotConfig(name="r", key="k", msgtype="text", mentioned_list=["@all"],
                           mentioned_mobile_list=["13800001111"])
    msgs = RobotEncoder(cfg).encode(big_notification(make))
    assert all(utf8_len(m.body["text"]["content"]) <= 2048 for m in msgs)
    assert msgs[0].body["text"]["mentioned_list"] == ["@all"]
    assert msgs[0].body["text"]["mentioned_mobile_list"] == ["13800001111"]
    assert "mentioned_list" not in msgs[1].body["text"]


async def test_robot_request_carries_key_in_url_only(make: Make) -> None:
    cap = Capture()
    sink = WeComRobotSink(WeComRobotConfig(name="r", key="ROBOTKEY+/=", base_url="https://wecom.test"),
                          client=cap.client(), clock=ManualClock())
    outcome = await sink.deliver(make())
    assert outcome.status == "delivered"
    url = urlsplit(str(cap.requests[0].url))
    assert url.path == "/cgi-bin/webhook/send" and parse_qs(url.query)["key"] == ["ROBOTKEY+/="]
    assert "ROBOTKEY" not in repr(sink) + repr(sink.service.__dict__) + str(outcome.to_dict())
    await sink.aclose()


def test_user_mapping_rules() -> None:
    m = UserMapper({"Boss@Corp.com": "zhangsan", "ghost@corp.com": ""}, rule="local_part")
    assert m("boss@corp.com") == "zhangsan"
    assert m("Alice.Wang@corp.com") == "alice.wang"
    assert m("ghost@corp.com") is None
    assert m("@all") == "@all"
    assert UserMapper({}, rule="map_only")("alice@corp.com") is None
    assert UserMapper({}, rule="same", lowercase=False)("Alice@corp.com") == "Alice@corp.com"
    assert m.map_all(["a@x", "A@y", "ghost@corp.com"]) == (["a"], ["ghost@corp.com"])


def test_app_encoder_body(make: Make) -> None:
    cfg = WeComAppConfig(name="app", corp_id="ww1", agent_id=1000002, secret="s", to_users=["boss@corp.com"],
                         to_party=["2"], duplicate_check_interval=600)
    [msg] = AppEncoder(cfg).encode(make(n_alerts=1))
    body = msg.body
    assert body["touser"] == "boss|user0" and body["toparty"] == "2" and body["agentid"] == 1000002
    assert body["msgtype"] == "markdown" and utf8_len(body["markdown"]["content"]) <= 2048
    assert (body["enable_duplicate_check"], body["duplicate_check_interval"], body["safe"]) == (1, 600, 0)
    # byte-identical on a resend, so WeCom's duplicate check can work
    assert orjson.dumps(AppEncoder(cfg).encode(make(n_alerts=1))[0].body) == orjson.dumps(body)
    # but another notification with the same text is a different body (not hidden as a duplicate)
    other = AppEncoder(cfg).encode(make(n_alerts=1, key="nk-2"))[0].body
    assert other != body and other["markdown"]["content"].endswith("</font>")


def test_app_encoder_textcard_and_batches(make: Make) -> None:
    cfg = WeComAppConfig(name="app", corp_id="ww1", agent_id=1, secret="s", msgtype="textcard",
                         to_users=[f"u{i}@corp.com" for i in range(2500)], textcard_button="详情")
    msgs = AppEncoder(cfg).encode(big_notification(make))
    assert [len(m.users) for m in msgs] == [1000, 1000, 501]
    card = msgs[0].body["textcard"]
    assert utf8_len(card["title"]) <= 128 and utf8_len(card["description"]) <= 512
    assert card["url"] == "https://sso.example/r?t=abc" and card["btntxt"] == "详情"


def test_app_encoder_refuses_when_nobody_maps(make: Make) -> None:
    from pipeline.sinks.delivery.sink import EncodeError

    cfg = WeComAppConfig(name="app", corp_id="ww1", agent_id=1, secret="s", user_rule="map_only")
    with pytest.raises(EncodeError, match=r"user0@corp\.example"):
        AppEncoder(cfg).encode(make())


async def test_token_cache_single_flight_and_targeted_invalidation() -> None:
    clock = ManualClock()
    calls = 0

    async def fetch() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return f"tok{calls}", 7200.0

    cache = AccessTokenCache(fetch, clock, refresh_margin=300)
    assert set(await asyncio.gather(*(cache.get() for _ in range(20)))) == {"tok1"}
    assert calls == 1
    cache.invalidate("some-older-token")
    assert await cache.get() == "tok1"
    cache.invalidate("tok1")
    assert await cache.get() == "tok2"
    clock.advance(7200 - 300)  # refreshed ahead of expiry
    assert await cache.get() == "tok3"
    assert "tok" not in repr(cache)


async def test_token_cache_shares_a_failure() -> None:
    calls = 0

    async def fetch() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("down")

    cache = AccessTokenCache(fetch, ManualClock())
    results = await asyncio.gather(*(cache.get() for _ in range(5)), return_exceptions=True)
    assert calls == 1 and all(isinstance(r, RuntimeError) for r in results)


async def test_app_gettoken_then_send(make: Make) -> None:
    def answer(r: httpx.Request) -> dict[str, Any]:
        if r.url.path.endswith("gettoken"):
            return {"errcode": 0, "errmsg": "ok", "access_token": "TOKEN123", "expires_in": 7200}
        return {"errcode": 0, "errmsg": "ok", "invaliduser": "user0", "msgid": "m1"}

    cap = Capture(answer)
    sink = WeComAppSink(WeComAppConfig(name="app", corp_id="ww1", agent_id=7, secret="APPSECRET",
                                       base_url="https://wecom.test"), client=cap.client(), clock=ManualClock())
    outcome = await sink.deliver(make())
    assert outcome.status == "delivered" and outcome.invalid_recipients == ("user0",)
    get, send = cap.requests
    assert parse_qs(get.url.query.decode()) == {"corpid": ["ww1"], "corpsecret": ["APPSECRET"]}
    assert parse_qs(send.url.query.decode()) == {"access_token": ["TOKEN123"]}
    await sink.aclose()


def test_webhook_payload_matches_its_schema(make: Make) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    from pipeline.sinks.webhook.encoder import WebhookEncoder

    enc = WebhookEncoder(WebhookConfig(name="oa", url="https://oa.test/hook", secret="s", language="en"))
    for n in (make(), make(n_alerts=0), make(alerts=(AlertItem(labels={}, status="resolved"),))):
        jsonschema.validate(orjson.loads(enc.encode(n)[0]), schema)


def test_webhook_payload_is_cut_to_max_body_bytes(make: Make) -> None:
    from pipeline.sinks.webhook.encoder import WebhookEncoder

    enc = WebhookEncoder(WebhookConfig(name="oa", url="https://oa.test/hook", secret="s", max_body_bytes=8192))
    [body] = enc.encode(big_notification(make, 200))
    payload = orjson.loads(body)
    assert len(body) <= 8192 and payload["truncated_alerts"] > 0
    assert len(payload["alerts"]) + payload["truncated_alerts"] == 200
    limited = WebhookEncoder(WebhookConfig(name="oa", url="https://oa.test/h", secret="s", max_alerts=3))
    assert orjson.loads(limited.encode(big_notification(make, 10))[0])["truncated_alerts"] == 7


async def test_webhook_signs_each_request(make: Make) -> None:
    cap = Capture(lambda r: {})
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


async def test_dingtalk_request_is_signed_in_the_query(make: Make) -> None:
    cap = Capture()
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


async def test_dingtalk_bodies_fit_twenty_thousand_bytes(make: Make) -> None:
    cap = Capture()
    sink = DingTalkSink(DingTalkConfig(name="dt", access_token="t", max_body_bytes=4000, max_parts=50),
                        client=cap.client(), clock=ManualClock())
    outcome = await sink.deliver(big_notification(make, 60))
    assert outcome.status == "delivered" and outcome.parts > 1
    assert all(len(r.content) <= 4000 for r in cap.requests)
    await sink.aclose()


async def test_feishu_sign_goes_in_the_body(make: Make) -> None:
    cap = Capture(lambda r: {"code": 0, "msg": "success", "data": {}})
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


@pytest.mark.parametrize(("model", "kwargs", "message"), [
    (WeComRobotConfig, {"name": "r", "key": "k", "burst": 20}, "burst"),
    (WeComRobotConfig, {"name": "r", "key": "k", "msgtype": "markdown_v2", "mentioned_list": ["a"]}, "mention"),
    (WeComRobotConfig, {"name": "bad name!", "key": "k"}, "name"),
    (WeComRobotConfig, {"name": "r", "key": "k", "mentioned_list": ["@all"]}, "need msgtype text"),
    (WeComRobotConfig, {"name": "r", "key": "k", "mentioned_mobile_list": ["138"]}, "need msgtype text"),
    (WeComAppConfig, {"name": "a", "corp_id": "c", "agent_id": 1, "secret": "s", "notify_recipients": False},
     "no recipients"),
    (WeComAppConfig, {"name": "a", "corp_id": "c", "agent_id": 1, "secret": "s",
                      "duplicate_check_interval": 20000}, "duplicate_check_interval"),
    (WebhookConfig, {"name": "w", "url": "https://x"}, "secret is required"),
    (WebhookConfig, {"name": "w", "url": "ftp://x", "secret": "s"}, "http"),
    (WebhookConfig, {"name": "w", "url": "https://x", "secret": "s", "headers": {"Authorization": "x"}},
     "bearer_token"),
    (FeishuConfig, {"name": "f", "hook_token": "t", "per_second": 200}, "per_second"),
])
def test_config_errors_name_the_problem(model: Any, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        model(**kwargs)


def test_secret_references_resolve_and_never_show(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("ROBOT_KEY_FOR_TEST", "KEYFROMENV")
    secret_file = tmp_path / "secret"
    secret_file.write_text("SECRETFROMFILE\n")
    robot = WeComRobotConfig(name="r", key="env:ROBOT_KEY_FOR_TEST")
    app = WeComAppConfig(name="a", corp_id="c", agent_id=1, secret=f"file:{secret_file}")
    assert robot.key.get_secret_value() == "KEYFROMENV"
    assert app.secret.get_secret_value() == "SECRETFROMFILE"
    shown = repr(robot) + str(robot) + robot.model_dump_json() + repr(app) + app.model_dump_json()
    assert "KEYFROMENV" not in shown and "SECRETFROMFILE" not in shown
    with pytest.raises(ValueError, match="ROBOT_KEY_MISSING") as err:
        WeComRobotConfig(name="r", key="env:ROBOT_KEY_MISSING")
    assert "KEYFROMENV" not in str(err.value)
