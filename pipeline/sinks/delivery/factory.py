"""Build a delivery sink from its config section (`kind` picks the destination)."""

from __future__ import annotations

from typing import Annotated

import httpx
from pydantic import Field, TypeAdapter

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.sinks.delivery.sink import Sink
from pipeline.sinks.dingtalk import DingTalkConfig, DingTalkSink
from pipeline.sinks.feishu import FeishuConfig, FeishuSink
from pipeline.sinks.webhook import WebhookConfig, WebhookSink
from pipeline.sinks.wecom_app import WeComAppConfig, WeComAppSink
from pipeline.sinks.wecom_robot import WeComRobotConfig, WeComRobotSink

SinkConfig = Annotated[
    WeComRobotConfig | WeComAppConfig | WebhookConfig | DingTalkConfig | FeishuConfig,
    Field(discriminator="kind"),
]
SINK_CONFIG: TypeAdapter[SinkConfig] = TypeAdapter(SinkConfig)


def build_sink(config: SinkConfig, *, clock: Clock = SYSTEM_CLOCK, client: httpx.AsyncClient | None = None) -> Sink:
    """One sink per config; each owns its httpx client unless `client` is given."""
    if isinstance(config, WeComRobotConfig):
        return WeComRobotSink(config, clock=clock, client=client)
    if isinstance(config, WeComAppConfig):
        return WeComAppSink(config, clock=clock, client=client)
    if isinstance(config, WebhookConfig):
        return WebhookSink(config, clock=clock, client=client)
    if isinstance(config, DingTalkConfig):
        return DingTalkSink(config, clock=clock, client=client)
    return FeishuSink(config, clock=clock, client=client)
