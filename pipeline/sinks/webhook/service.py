"""One webhook POST: 2xx (and configured success statuses) delivered; 408/425/429/5xx, timeouts and
connection errors retried (Retry-After honoured); other 4xx (401 bad signature, 400, 404...) dead-lettered."""

from __future__ import annotations

from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass
from pipeline.sinks.delivery.http import HttpClient, exchange
from pipeline.sinks.webhook.request_builder import WebhookRequestBuilder


class WebhookService:
    def __init__(self, client: HttpClient, builder: WebhookRequestBuilder,
                 success_statuses: frozenset[int] = frozenset()) -> None:
        self._client = client
        self._builder = builder
        self._success = success_statuses

    async def send(self, body: bytes, idempotency_key: str) -> AttemptResult:
        reply = await exchange(self._client, self._builder.build(body, idempotency_key))
        if isinstance(reply, AttemptResult):
            if reply.http_status in self._success:
                return AttemptResult(ErrorClass.OK, "ok", http_status=reply.http_status)
            return reply
        return AttemptResult(ErrorClass.OK, "ok", http_status=reply.status)
