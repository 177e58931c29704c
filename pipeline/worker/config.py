"""The `worker` section of the config: which agents run and how they reach their sinks. (The alerting section
is alerting's: pipeline/transforms/routing/section.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.console.config import ConsoleConfig
from pipeline.kafka.batch import ConsumeConfig
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.registry import parse_siem
from pipeline.sinks.sse.config import SseConfig

AgentName = Literal["normalize", "audit", "siem", "alerting", "rules", "dispatch", "delivery", "actions"]
DEFAULT_AGENTS: tuple[AgentName, ...] = ("normalize", "audit")


class SiemConfigError(ValueError):
    """Every bad `worker.siem` entry, as "[i].field: problem" lines (`pipeline check-config` lists each)."""

    hint = "see pipeline/sinks/<kind>/config.py for the fields"

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def _default_audit() -> AuditStoreConfig:
    return AuditStoreConfig(kind="sqlite", path=Path(".state/audit.db"))


class WorkerSection(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    app_id: str = Field("exmail-pipeline", description="faust app id = consumer group and changelog prefix")
    instance_id: str | None = Field(
        None, description="static group membership (KIP-345): a worker restarted with the same id takes its "
                          "partitions back at once instead of waiting out the session timeout of the member it "
                          "replaces; give each worker of a group its own id, or leave empty for dynamic membership")
    agents: list[AgentName] = Field(default_factory=lambda: list(DEFAULT_AGENTS))
    http_host: str = "127.0.0.1"
    http_port: int = Field(9102, ge=0, le=65535, description="/metrics and /healthz; 0 disables")
    audit: AuditStoreConfig = Field(default_factory=_default_audit)
    siem: list[dict[str, Any]] = Field(default_factory=list, description="SIEM sink configs: each has a 'kind' "
                                        "(pipeline/sinks/registry.py; 'type' is a deprecated alias) and a 'name'")
    consume: ConsumeConfig = Field(default_factory=ConsumeConfig,
                                   description="batch consumers (normalize, audit, SIEM): batch size, timeouts")
    sse: SseConfig | None = Field(None, description="Server-Sent Events for custom clients at /sse/stream")
    console: ConsoleConfig | None = Field(None, description="the operator console at /console (browser login)")
    stall_seconds: float = Field(120.0, ge=5.0, description="an assigned partition with lag and no committed "
                                 "progress for this long is stalled: logged, counted, /healthz turns 503")
    lag_probe_seconds: float = Field(5.0, ge=0.5, le=300.0, description="how often lag and progress are read")

    @field_validator("siem")
    @classmethod
    def _check_siem(cls, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each entry against its sink type's model (the sinks' own; built again by the SIEM unit)."""
        errors = []
        for i, item in enumerate(items):
            try:
                parse_siem([item], warn=lambda _: None)  # a deprecated `type:` is check-config's warning
            except ValueError as exc:
                errors.append(str(exc).removeprefix("worker.siem").replace("[0]", f"[{i}]", 1))
        if errors:
            raise SiemConfigError(errors)
        return items
