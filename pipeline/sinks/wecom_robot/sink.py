"""WeCom group robot sink: paced at the robot's 20 messages/minute, split at 2048/4096 bytes."""

from __future__ import annotations

import random

import httpx

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.envelope import fingerprint
from pipeline.ratelimit import SHARED_BUCKETS, TokenBucket
from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.sink import DeliverySink
from pipeline.sinks.wecom_robot.config import WeComRobotConfig
from pipeline.sinks.wecom_robot.encoder import RobotEncoder, RobotMessage
from pipeline.sinks.wecom_robot.request_builder import RobotRequestBuilder
from pipeline.sinks.wecom_robot.service import RobotService


class WeComRobotSink(DeliverySink[RobotMessage]):
    kind = "wecom_robot"

    def __init__(self, config: WeComRobotConfig, *, clock: Clock = SYSTEM_CLOCK,
                 client: httpx.AsyncClient | None = None, rng_seed: int | None = None) -> None:
        key = config.key.get_secret_value()
        super().__init__(name=config.name, policy=config.retry.policy(random.Random(rng_seed)), clock=clock,
                         http=config.http, client=client, secrets=(key,))
        self.config = config
        self.encoder = RobotEncoder(config)
        self.service = RobotService(self.client, RobotRequestBuilder(config.base_url, config.key))
        robot = fingerprint("wecom_robot", config.base_url, key)
        self.bucket = SHARED_BUCKETS.get(
            (self.kind, robot, config.per_minute, config.burst, clock),
            lambda: TokenBucket.per_window(config.per_minute, 60.0, burst=config.burst, clock=clock))

    def encode(self, notification: Notification) -> list[RobotMessage]:
        return self.encoder.encode(notification)

    async def acquire(self, part: RobotMessage) -> float:
        return await self.bucket.acquire()

    async def attempt(self, part: RobotMessage) -> AttemptResult:
        return await self.service.send(part)
