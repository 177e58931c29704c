"""Receiver credentials (the Secret field type): references resolve and the values never show."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sinks.wecom_app import WeComAppConfig
from pipeline.sinks.wecom_robot import WeComRobotConfig


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
