"""Webhook config: a secret, an http(s) URL, and no hand-written Authorization header."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sinks.webhook import WebhookConfig


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "w", "url": "https://x"}, "secret is required"),
    ({"name": "w", "url": "ftp://x", "secret": "s"}, "http"),
    ({"name": "w", "url": "https://x", "secret": "s", "headers": {"Authorization": "x"}}, "bearer_token"),
])
def test_config_errors_name_the_problem(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WebhookConfig(**kwargs)
