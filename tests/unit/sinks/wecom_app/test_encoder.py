"""WeCom app message bodies: text, textcard, recipient batches; nobody mapped is refused."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.splitting import utf8_len
from pipeline.sinks.wecom_app import WeComAppConfig
from pipeline.sinks.wecom_app.encoder import AppEncoder

Make = Callable[..., Notification]


def big_notification(make: Make, n_alerts: int = 40) -> Notification:
    return make(n_alerts=n_alerts)


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
