"""Receiver configs name the problem, and their secret references resolve and never show."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sinks.feishu import FeishuConfig
from pipeline.sinks.webhook import WebhookConfig
from pipeline.sinks.wecom_app import WeComAppConfig
from pipeline.sinks.wecom_robot import WeComRobotConfig


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
