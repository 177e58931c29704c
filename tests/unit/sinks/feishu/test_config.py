"""Feishu config: the per-second limit stays within the documented one."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sinks.feishu import FeishuConfig


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "f", "hook_token": "t", "per_second": 200}, "per_second"),
])
def test_config_errors_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FeishuConfig(**kwargs)
