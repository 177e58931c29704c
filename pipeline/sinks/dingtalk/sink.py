"""DingTalk custom robot sink: 20/min per robot, signed requests, bodies within ~20000 bytes."""

from __future__ import annotations

import random

import httpx

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.envelope import fingerprint
from pipeline.ratelimit import SHARED_BUCKETS, TokenBucket
from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.sink import DeliverySink
from pipeline.sinks.dingtalk.config import DingTalkConfig
from pipeline.sinks.dingtalk.encoder import DingTalkEncoder
from pipeline.sinks.dingtalk.request_builder import DingTalkRequestBuilder
from pipeline.sinks.dingtalk.service import DingTalkService


class DingTalkSink(DeliverySink[bytes]):
    kind = "dingtalk"

    def __init__(self, config: DingTalkConfig, *, clock: Clock = SYSTEM_CLOCK,
                 client: httpx.AsyncClient | None = None, rng_seed: int | None = None) -> None:
        secrets = [s.get_secret_value() for s in (config.access_token, config.secret) if s]
        super().__init__(name=config.name, policy=config.retry.policy(random.Random(rng_seed)), clock=clock,
                         http=config.http, client=client, secrets=secrets)
        self.config = config
        self.encoder = DingTalkEncoder(config)
        self.service = DingTalkService(self.client, DingTalkRequestBuilder(config, clock))
        robot = fingerprint("dingtalk", config.base_url, config.access_token.get_secret_value())
        self.bucket = SHARED_BUCKETS.get(
            (self.kind, robot, config.per_minute, config.burst, clock),
            lambda: TokenBucket.per_window(config.per_minute, 60.0, burst=config.burst, clock=clock))

    def encode(self, notification: Notification) -> list[bytes]:
        return self.encoder.encode(notification)

    async def acquire(self, part: bytes) -> float:
        return await self.bucket.acquire()

    async def attempt(self, part: bytes) -> AttemptResult:
        return await self.service.send(part)
