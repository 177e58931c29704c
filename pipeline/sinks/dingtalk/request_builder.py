"""Body -> POST robot/send?access_token=..&timestamp=..&sign=.. (signed per attempt: fresh timestamp)."""

from __future__ import annotations

from urllib.parse import urlencode

from pipeline.clock import Clock
from pipeline.sinks.delivery.http import HttpRequest
from pipeline.sinks.dingtalk.config import DingTalkConfig
from pipeline.sinks.dingtalk.signing import dingtalk_sign


class DingTalkRequestBuilder:
    def __init__(self, config: DingTalkConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock

    def __repr__(self) -> str:
        return f"DingTalkRequestBuilder(name={self._config.name!r})"

    def build(self, body: bytes) -> HttpRequest:
        cfg = self._config
        query = {"access_token": cfg.access_token.get_secret_value()}
        if cfg.secret is not None:
            timestamp_ms = int(self._clock.time() * 1000)
            query["timestamp"] = str(timestamp_ms)
            query["sign"] = dingtalk_sign(cfg.secret.get_secret_value(), timestamp_ms)
        url = f"{cfg.base_url.rstrip('/')}/robot/send?{urlencode(query)}"
        return HttpRequest("POST", url, body, {"Content-Type": "application/json; charset=utf-8"},
                           label="dingtalk")
