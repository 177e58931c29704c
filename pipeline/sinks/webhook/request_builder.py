"""Payload bytes -> signed POST (see signing.py for the scheme)."""

from __future__ import annotations

from pipeline.clock import Clock
from pipeline.sinks.delivery.http import HttpRequest
from pipeline.sinks.webhook.config import WebhookConfig
from pipeline.sinks.webhook.signing import IDEMPOTENCY_HEADER, signature


class WebhookRequestBuilder:
    def __init__(self, config: WebhookConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock

    def __repr__(self) -> str:
        return f"WebhookRequestBuilder(name={self._config.name!r})"

    def build(self, body: bytes, idempotency_key: str) -> HttpRequest:
        cfg = self._config
        headers = {**cfg.headers, "Content-Type": "application/json; charset=utf-8",
                   IDEMPOTENCY_HEADER: idempotency_key}
        if cfg.secret is not None:
            timestamp = str(int(self._clock.time()))
            headers[cfg.timestamp_header] = timestamp
            headers[cfg.signature_header] = signature(cfg.secret.get_secret_value(), timestamp, body)
        if cfg.bearer_token is not None:
            headers["Authorization"] = f"Bearer {cfg.bearer_token.get_secret_value()}"
        return HttpRequest("POST", cfg.url.get_secret_value(), body, headers, label="webhook")
