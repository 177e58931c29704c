"""WeCom group robot ("消息推送") sink settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.sinks.delivery.config import DeliverySettings, Secret


class WeComRobotConfig(DeliverySettings):
    kind: Literal["wecom_robot"] = "wecom_robot"
    key: Secret = Field(..., description="the robot's webhook key (the URL's key=); env:/file: reference")
    base_url: str = Field("https://qyapi.weixin.qq.com", description="API origin; the simulator's in tests")
    msgtype: Literal["text", "markdown", "markdown_v2"] = "markdown"
    mentioned_list: list[str] = Field(default_factory=list,
                                      description="WeCom userids to @mention ('@all' for everyone)")
    mentioned_mobile_list: list[str] = Field(default_factory=list,
                                             description="mobile numbers to @mention (text messages only)")
    per_minute: int = Field(20, ge=1, description="the robot's documented limit: 20 messages per minute")
    burst: int = Field(5, ge=1, description="sends allowed back to back before pacing starts")
    text_max_bytes: int = Field(2048, ge=64, description="text.content limit in UTF-8 bytes")
    markdown_max_bytes: int = Field(4096, ge=64, description="markdown(.v2).content limit in UTF-8 bytes")

    @model_validator(mode="after")
    def _check(self) -> WeComRobotConfig:
        if self.burst >= self.per_minute and self.per_minute > 1:
            raise ValueError(f"burst ({self.burst}) must be below per_minute ({self.per_minute})")
        if self.msgtype == "markdown_v2" and (self.mentioned_list or self.mentioned_mobile_list):
            raise ValueError("markdown_v2 messages cannot @mention; use msgtype text or markdown")
        if self.msgtype == "markdown" and (self.mentioned_mobile_list or "@all" in self.mentioned_list):
            raise ValueError("markdown mentions are inline <@userid> only: mentioned_mobile_list and '@all' "
                             "need msgtype text")
        return self
