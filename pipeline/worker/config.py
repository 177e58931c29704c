"""The `worker` section of the config: which agents run and how they reach their sinks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.sinks.audit.config import AuditStoreConfig

AgentName = Literal["normalize", "audit", "siem", "alerting", "delivery", "actions"]
DEFAULT_AGENTS: tuple[AgentName, ...] = ("normalize", "audit")


def _default_audit() -> AuditStoreConfig:
    return AuditStoreConfig(kind="sqlite", path=Path(".state/audit.db"))


class WorkerSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    app_id: str = Field("exmail-pipeline", description="faust app id = consumer group and changelog prefix")
    agents: list[AgentName] = Field(default_factory=lambda: list(DEFAULT_AGENTS))
    http_host: str = "127.0.0.1"
    http_port: int = Field(9102, ge=0, le=65535, description="/metrics and /healthz; 0 disables")
    audit: AuditStoreConfig = Field(default_factory=_default_audit)
    siem: list[dict[str, Any]] = Field(default_factory=list, description="SIEM sink configs (each has a 'type')")
