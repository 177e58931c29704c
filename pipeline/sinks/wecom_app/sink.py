"""WeCom application message sink: token per app, 30/min and 1000/h per member, duplicate check on."""

from __future__ import annotations

import random

import httpx

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.ratelimit import SHARED_BUCKETS, KeyedBuckets, window_bucket_factory
from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.sink import DeliverySink
from pipeline.sinks.wecom_app.config import WeComAppConfig
from pipeline.sinks.wecom_app.encoder import AppEncoder, AppMessage
from pipeline.sinks.wecom_app.request_builder import AppRequestBuilder
from pipeline.sinks.wecom_app.service import AppService


class WeComAppSink(DeliverySink[AppMessage]):
    kind = "wecom_app"
    uses_token = True

    def __init__(self, config: WeComAppConfig, *, clock: Clock = SYSTEM_CLOCK,
                 client: httpx.AsyncClient | None = None, rng_seed: int | None = None) -> None:
        super().__init__(name=config.name, policy=config.retry.policy(random.Random(rng_seed)), clock=clock,
                         http=config.http, client=client, secrets=(config.secret.get_secret_value(),))
        self.config = config
        self.encoder = AppEncoder(config)
        builder = AppRequestBuilder(config.base_url, config.corp_id, config.secret)
        self.service = AppService(self.client, builder, clock, config.token_refresh_margin)
        limits = ((config.per_member_per_minute, 60.0), (config.per_member_per_hour, 3600.0))
        self.member_buckets = SHARED_BUCKETS.get(
            (self.kind, config.base_url, config.corp_id, config.agent_id, limits, clock),
            lambda: KeyedBuckets(window_bucket_factory(limits, clock), clock=clock))

    def live_secrets(self) -> frozenset[str]:
        return super().live_secrets() | self.service.tokens.recent

    def encode(self, notification: Notification) -> list[AppMessage]:
        return self.encoder.encode(notification)

    async def acquire(self, part: AppMessage) -> float:
        return await self.member_buckets.acquire(u for u in part.users if u != "@all")

    async def attempt(self, part: AppMessage) -> AttemptResult:
        result = await self.service.send(part)
        if part.unmapped and part.index == 1:
            result = AttemptResult(result.error_class, result.reason, result.errcode, result.http_status,
                                   result.detail, result.rate_limited, result.retry_after,
                                   result.invalid_recipients + tuple(f"unmapped:{u}" for u in part.unmapped))
        return result
