"""DingTalk custom robot sink settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.sinks.delivery.config import DeliverySettings, Secret


class DingTalkConfig(DeliverySettings):
    kind: Literal["dingtalk"] = "dingtalk"
    access_token: Secret = Field(..., description="the robot's access_token; env:/file: reference")
    secret: Secret | None = Field(None, description="signing secret (security setting 'sign'), SEC...")
    base_url: str = Field("https://oapi.dingtalk.com", description="API origin; the simulator's in tests")
    msgtype: Literal["text", "markdown"] = "markdown"
    at_mobiles: list[str] = Field(default_factory=list)
    at_user_ids: list[str] = Field(default_factory=list)
    at_all: bool = False
    per_minute: int = Field(20, ge=1, description="DingTalk: 20 messages/min per robot (10 min throttle beyond)")
    burst: int = Field(5, ge=1)
    max_body_bytes: int = Field(20000, ge=1024, description="request body limit (DingTalk ~20000 bytes)")

    @model_validator(mode="after")
    def _check(self) -> DingTalkConfig:
        if self.per_minute > 1 and self.burst >= self.per_minute:
            raise ValueError(f"burst ({self.burst}) must be below per_minute ({self.per_minute})")
        return self
