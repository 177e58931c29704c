"""Feishu/Lark custom robot sink: 5/s and 100/min per robot (two buckets), signed bodies within 20 KB."""

from __future__ import annotations

import random
from typing import Any

import httpx

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.envelope import fingerprint
from pipeline.ratelimit import SHARED_BUCKETS, BucketGroup, TokenBucket
from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.sink import DeliverySink
from pipeline.sinks.feishu.config import FeishuConfig
from pipeline.sinks.feishu.encoder import FeishuEncoder
from pipeline.sinks.feishu.request_builder import FeishuRequestBuilder
from pipeline.sinks.feishu.service import FeishuService


class FeishuSink(DeliverySink[dict[str, Any]]):
    kind = "feishu"

    def __init__(self, config: FeishuConfig, *, clock: Clock = SYSTEM_CLOCK,
                 client: httpx.AsyncClient | None = None, rng_seed: int | None = None) -> None:
        secrets = [s.get_secret_value() for s in (config.hook_token, config.secret) if s]
        super().__init__(name=config.name, policy=config.retry.policy(random.Random(rng_seed)), clock=clock,
                         http=config.http, client=client, secrets=secrets)
        self.config = config
        self.encoder = FeishuEncoder(config)
        self.service = FeishuService(self.client, FeishuRequestBuilder(config, clock))
        robot = fingerprint("feishu", config.base_url, config.hook_token.get_secret_value())
        self.buckets = SHARED_BUCKETS.get(
            (self.kind, robot, config.per_second, config.per_minute, clock),
            lambda: BucketGroup([TokenBucket.per_window(config.per_second, 1.0, clock=clock),
                                 TokenBucket.per_window(config.per_minute, 60.0, clock=clock)], clock=clock))

    def encode(self, notification: Notification) -> list[dict[str, Any]]:
        return self.encoder.encode(notification)

    async def acquire(self, part: dict[str, Any]) -> float:
        return await self.buckets.acquire()

    async def attempt(self, part: dict[str, Any]) -> AttemptResult:
        return await self.service.send(part)
