"""Generic webhook / OA sink: one signed JSON POST per notification."""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.envelope import fingerprint
from pipeline.notification import Notification
from pipeline.ratelimit import SHARED_BUCKETS, TokenBucket
from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.sink import DeliverySink
from pipeline.sinks.webhook.config import WebhookConfig
from pipeline.sinks.webhook.encoder import WebhookEncoder
from pipeline.sinks.webhook.request_builder import WebhookRequestBuilder
from pipeline.sinks.webhook.service import WebhookService


@dataclass(frozen=True, slots=True)
class WebhookPart:
    body: bytes
    idempotency_key: str


class WebhookSink(DeliverySink[WebhookPart]):
    kind = "webhook"

    def __init__(self, config: WebhookConfig, *, clock: Clock = SYSTEM_CLOCK,
                 client: httpx.AsyncClient | None = None, rng_seed: int | None = None) -> None:
        secrets = [s.get_secret_value() for s in (config.url, config.secret, config.bearer_token) if s]
        super().__init__(name=config.name, policy=config.retry.policy(random.Random(rng_seed)), clock=clock,
                         http=config.http, client=client, secrets=secrets)
        self.config = config
        self.encoder = WebhookEncoder(config)
        self.service = WebhookService(self.client, WebhookRequestBuilder(config, clock),
                                      frozenset(config.success_statuses))
        endpoint = fingerprint("webhook", config.url.get_secret_value())
        self.bucket = SHARED_BUCKETS.get(
            (self.kind, endpoint, config.per_minute, config.burst, clock),
            lambda: TokenBucket.per_window(config.per_minute, 60.0, burst=config.burst, clock=clock))

    @property
    def concurrency(self) -> int:
        """A machine receiver takes as many notifications at once as the pool has connections."""
        return self.config.http.max_connections

    def encode(self, notification: Notification) -> list[WebhookPart]:
        return [WebhookPart(b, notification.idempotency_key) for b in self.encoder.encode(notification)]

    def try_acquire(self, part: WebhookPart) -> bool:
        return self.bucket.try_take()

    async def acquire(self, part: WebhookPart) -> float:
        return await self.bucket.acquire()

    async def attempt(self, part: WebhookPart) -> AttemptResult:
        return await self.service.send(part.body, part.idempotency_key)
