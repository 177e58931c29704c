"""WeCom application message sink settings (one sink = one app: corp id, agent id, its own secret)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.sinks.delivery.config import DeliverySettings, Secret

UserRule = Literal["map_only", "local_part", "same"]


class WeComAppConfig(DeliverySettings):
    kind: Literal["wecom_app"] = "wecom_app"
    corp_id: str = Field(..., min_length=1, description="WeCom CorpID")
    agent_id: int = Field(..., description="the application's AgentId")
    secret: Secret = Field(..., description="the application's Secret; env:/file: reference")
    base_url: str = Field("https://qyapi.weixin.qq.com", description="API origin; the simulator's in tests")
    msgtype: Literal["text", "markdown", "textcard"] = "markdown"
    to_users: list[str] = Field(default_factory=list,
                                description="Exmail userids always addressed (mapped to WeCom userids); '@all'")
    to_party: list[str] = Field(default_factory=list, max_length=100, description="WeCom department ids")
    to_tag: list[str] = Field(default_factory=list, max_length=100, description="WeCom tag ids")
    notify_recipients: bool = Field(True, description="also address the notification's own recipients")
    user_map: dict[str, str] = Field(default_factory=dict, description="Exmail userid -> WeCom userid")
    user_rule: UserRule = Field("local_part", description="for userids missing from user_map: "
                                "local_part (alice@corp.com -> alice), same, or map_only (skip them)")
    lowercase: bool = Field(True, description="lower-case userids produced by user_rule")
    safe: bool = Field(False, description="WeCom 'safe' (confidential) messages")
    duplicate_check: bool = Field(True, description="enable_duplicate_check: a resend within the interval "
                                  "is shown once")
    duplicate_check_interval: int = Field(1800, ge=1, le=14400, description="seconds (WeCom max 4 h)")
    reference_footer: bool = Field(True, description="end each message with a short reference of the "
                                   "notification, so two different notifications with the same text are not "
                                   "hidden by the duplicate check (and operators can find the delivery record)")
    per_member_per_minute: int = Field(30, ge=1, description="WeCom: 30 messages/min to one member per app")
    per_member_per_hour: int = Field(1000, ge=1, description="WeCom: 1000 messages/hour to one member per app")
    text_max_bytes: int = Field(2048, ge=64)
    markdown_max_bytes: int = Field(2048, ge=64)
    textcard_url: str | None = Field(None, description="textcard link when a notification has no SSO link")
    textcard_button: str | None = Field(None, max_length=4, description="textcard button text (<= 4 chars)")
    token_refresh_margin: float = Field(300.0, ge=0, description="refetch the token this long before expiry")

    @model_validator(mode="after")
    def _check(self) -> WeComAppConfig:
        if not (self.to_users or self.to_party or self.to_tag or self.notify_recipients):
            raise ValueError("no recipients: set to_users, to_party, to_tag or notify_recipients")
        return self
