"""WeCom app config: recipients and the duplicate-check interval are checked."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sinks.wecom_app import WeComAppConfig


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "a", "corp_id": "c", "agent_id": 1, "secret": "s", "notify_recipients": False}, "no recipients"),
    ({"name": "a", "corp_id": "c", "agent_id": 1, "secret": "s", "duplicate_check_interval": 20000},
     "duplicate_check_interval"),
])
def test_config_errors_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WeComAppConfig(**kwargs)
