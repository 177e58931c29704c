"""Generic webhook / OA sink settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.sinks.delivery.config import DeliverySettings, Secret
from pipeline.sinks.webhook.signing import DEFAULT_SIGNATURE_HEADER, DEFAULT_TIMESTAMP_HEADER

_RESERVED = {"content-type", "content-length", "host", "authorization"}


class WebhookConfig(DeliverySettings):
    kind: Literal["webhook"] = "webhook"
    url: Secret = Field(..., description="endpoint URL (masked: OA URLs often embed tokens)")
    secret: Secret | None = Field(None, description="HMAC-SHA256 signing secret; env:/file: reference")
    allow_unsigned: bool = Field(False, description="must be true to send without a signing secret")
    timestamp_header: str = DEFAULT_TIMESTAMP_HEADER
    signature_header: str = DEFAULT_SIGNATURE_HEADER
    bearer_token: Secret | None = Field(None, description="sent as Authorization: Bearer ...")
    headers: dict[str, str] = Field(default_factory=dict, description="extra headers (not for secrets)")
    per_minute: int = Field(600, ge=1, description="client-side pacing of this endpoint")
    burst: int = Field(50, ge=1)
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="alerts beyond this are cut, then texts")
    max_alerts: int = Field(0, ge=0, description="alerts per payload; 0 = all (the rest are counted)")
    success_statuses: list[int] = Field(default_factory=list,
                                        description="extra non-2xx statuses that mean delivered (e.g. 409)")

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if k.lower() in _RESERVED]
        if bad:
            raise ValueError(f"headers {bad} are set by the sink (use bearer_token for Authorization)")
        return value

    @model_validator(mode="after")
    def _check(self) -> WebhookConfig:
        if self.secret is None and not self.allow_unsigned:
            raise ValueError("secret is required (or set allow_unsigned: true to send unsigned requests)")
        if self.per_minute > 1 and self.burst >= self.per_minute:
            raise ValueError(f"burst ({self.burst}) must be below per_minute ({self.per_minute})")
        url = self.url.get_secret_value()
        if not url.startswith(("http://", "https://", "env:", "file:")):  # a reference left unresolved by check-config
            raise ValueError("url must start with http:// or https://")
        return self
