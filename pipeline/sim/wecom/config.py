"""Simulated WeCom: the corp, its apps (each with its own secret), members, departments, tags and group
robots, plus the documented limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SimApp(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: int
    secret: str = Field(..., min_length=1, repr=False)
    name: str = ""


class SimRobot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(..., min_length=1, description="what the recorder calls this robot")
    key: str = Field(..., min_length=1, repr=False)


class WeComSimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    corp_id: str = "wwsimcorp0000001"
    apps: list[SimApp] = Field(default_factory=lambda: [SimApp(agent_id=1000002, secret="sim-app-secret")])
    robots: list[SimRobot] = Field(default_factory=lambda: [SimRobot(name="ops", key="sim-robot-key")])
    users: list[str] = Field(default_factory=lambda: ["alice", "bob", "carol", "dave"])
    parties: dict[str, list[str]] = Field(default_factory=lambda: {"1": ["alice", "bob", "carol", "dave"]})
    tags: dict[str, list[str]] = Field(default_factory=dict)
    token_ttl: int = Field(7200, ge=1, description="expires_in of issued access tokens, seconds")
    robot_per_minute: int = Field(20, ge=1, description="accepted robot messages per minute -> 45009 beyond")
    member_per_minute: int = Field(30, ge=1, description="app messages per member per minute (beyond: dropped)")
    member_per_hour: int = Field(1000, ge=1, description="app messages per member per hour (beyond: dropped)")
    app_text_max_bytes: int = 2048
    app_text_overflow: Literal["truncate", "reject"] = Field(
        "truncate", description="text over app_text_max_bytes: truncated at a character boundary (doc 90236 "
        "'超过将截断') or refused with 40058")
    touser_max: int = Field(1000, ge=1, description="touser entries per message (doc 90236); beyond -> 40058")
    toparty_max: int = Field(100, ge=1, description="toparty entries per message (doc 90236); beyond -> 40058")
    totag_max: int = Field(100, ge=1, description="totag entries per message (doc 90236); beyond -> 40058")
    member_per_day: int = Field(10_000, ge=1, description="app messages per member per day (beyond: dropped)")
    account_seats: int | None = Field(None, ge=1, description="the corp's seat cap; None = number of users")
    app_per_seat_per_day: int = Field(200, ge=1, description="person-messages per app per day = seats x this")
    app_markdown_max_bytes: int = 2048
    robot_text_max_bytes: int = 2048
    robot_markdown_max_bytes: int = 4096
    duplicate_check_default: int = Field(1800, description="duplicate_check_interval when the body has none")
    duplicate_check_max: int = Field(14400, description="longest duplicate_check_interval honoured (4 h)")
    recorder_limit: int = Field(50_000, ge=1)
