"""Feishu/Lark custom robot sink settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.sinks.delivery.config import DeliverySettings, Secret


class FeishuConfig(DeliverySettings):
    kind: Literal["feishu"] = "feishu"
    hook_token: Secret = Field(..., description="the last path segment of the robot's webhook URL")
    secret: Secret | None = Field(None, description="signing secret (security setting 'signature')")
    base_url: str = Field("https://open.feishu.cn", description="API origin (open.larksuite.com for Lark)")
    msg_type: Literal["text", "interactive"] = "interactive"
    at_all: bool = False
    per_second: int = Field(5, ge=1, description="Feishu: 5 requests/s per robot")
    per_minute: int = Field(100, ge=1, description="Feishu: 100 requests/min per robot")
    max_body_bytes: int = Field(20 * 1024, ge=1024, description="request body limit (Feishu 20 KB)")

    @model_validator(mode="after")
    def _check(self) -> FeishuConfig:
        if self.per_second > self.per_minute:
            raise ValueError("per_second cannot exceed per_minute")
        return self
