"""WeCom robot bodies: markdown and text parts split by bytes, mention lists."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.splitting import utf8_len
from pipeline.sinks.wecom_robot import WeComRobotConfig
from pipeline.sinks.wecom_robot.encoder import RobotEncoder

Make = Callable[..., Notification]


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
