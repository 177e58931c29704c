"""Body -> POST open-apis/bot/v2/hook/<token>, with timestamp and sign added to the JSON per attempt."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pipeline.clock import Clock
from pipeline.sinks.delivery.http import HttpRequest, json_bytes
from pipeline.sinks.feishu.config import FeishuConfig
from pipeline.sinks.feishu.signing import feishu_sign


class FeishuRequestBuilder:
    def __init__(self, config: FeishuConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock

    def __repr__(self) -> str:
        return f"FeishuRequestBuilder(name={self._config.name!r})"

    def build(self, body: dict[str, Any]) -> HttpRequest:
        cfg = self._config
        if cfg.secret is not None:
            timestamp = str(int(self._clock.time()))
            body = {"timestamp": timestamp, "sign": feishu_sign(cfg.secret.get_secret_value(), timestamp), **body}
        token = quote(cfg.hook_token.get_secret_value(), safe="")
        url = f"{cfg.base_url.rstrip('/')}/open-apis/bot/v2/hook/{token}"
        return HttpRequest("POST", url, json_bytes(body), {"Content-Type": "application/json; charset=utf-8"},
                           label="feishu")
