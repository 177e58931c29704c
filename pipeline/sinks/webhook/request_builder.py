"""Payload bytes -> signed POST (see signing.py for the scheme)."""

from __future__ import annotations

from pipeline.clock import Clock
from pipeline.sinks.delivery.http import HttpRequest
from pipeline.sinks.webhook.config import WebhookConfig
from pipeline.sinks.webhook.signing import IDEMPOTENCY_HEADER, Signer


class WebhookRequestBuilder:
    """What never changes between requests (URL, fixed headers, the keyed HMAC) is prepared once here; a
    request adds its idempotency key, timestamp and signature."""

    def __init__(self, config: WebhookConfig, clock: Clock) -> None:
        self._config = config
        self._clock = clock
        self._url = config.url.get_secret_value()
        self._headers = {**config.headers, "Content-Type": "application/json; charset=utf-8"}
        if config.bearer_token is not None:
            self._headers["Authorization"] = f"Bearer {config.bearer_token.get_secret_value()}"
        self._signer = Signer(config.secret.get_secret_value()) if config.secret is not None else None
        self._timestamp_header = config.timestamp_header
        self._signature_header = config.signature_header

    def __repr__(self) -> str:
        return f"WebhookRequestBuilder(name={self._config.name!r})"

    def build(self, body: bytes, idempotency_key: str) -> HttpRequest:
        headers = {**self._headers, IDEMPOTENCY_HEADER: idempotency_key}
        if self._signer is not None:
            timestamp = str(int(self._clock.time()))
            headers[self._timestamp_header] = timestamp
            headers[self._signature_header] = self._signer.sign(timestamp, body)
        return HttpRequest("POST", self._url, body, headers, label="webhook")
