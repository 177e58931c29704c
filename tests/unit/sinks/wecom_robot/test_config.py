"""WeCom robot config: mention lists, burst and name problems are named."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sinks.wecom_robot import WeComRobotConfig


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "r", "key": "k", "burst": 20}, "burst"),
    ({"name": "r", "key": "k", "msgtype": "markdown_v2", "mentioned_list": ["a"]}, "mention"),
    ({"name": "bad name!", "key": "k"}, "name"),
    ({"name": "r", "key": "k", "mentioned_list": ["@all"]}, "need msgtype text"),
    ({"name": "r", "key": "k", "mentioned_mobile_list": ["138"]}, "need msgtype text"),
])
def test_config_errors_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WeComRobotConfig(**kwargs)
