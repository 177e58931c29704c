"""The `worker` section of the config: which agents run and how they reach their sinks."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.console.config import ConsoleConfig
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.sse.config import SseConfig
from pipeline.worker.batch.consumer import ConsumeConfig

AgentName = Literal["normalize", "audit", "siem", "alerting", "rules", "dispatch", "delivery", "actions"]
DEFAULT_AGENTS: tuple[AgentName, ...] = ("normalize", "audit")


def _default_audit() -> AuditStoreConfig:
    return AuditStoreConfig(kind="sqlite", path=Path(".state/audit.db"))


class RulesSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file: Path | None = Field(None, description="a rule pack YAML; default: the shipped default pack")
    params: dict[str, Any] = Field(default_factory=dict, description="overrides of the pack's params")


class SsoLinksSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(..., pattern=r"^https?://", description="public URL of the ingest redirector's /sso")
    secret: str = Field(..., description="HMAC key reference, env:NAME or file:/path (shared with ingest)")
    ttl_seconds: int = Field(900, ge=60, le=7 * 86400)


class AlertingSection(BaseModel):
    """Rules over exmail.events, Alertmanager-style routing, and the receivers (delivery sinks).

    Each entry of `routing.receivers` is a receiver (`name`, `send_resolved`) plus, when it delivers, its sink
    config (`kind:` one of the receiver kinds in pipeline/sinks/registry.py, and that sink's fields)."""

    model_config = ConfigDict(extra="forbid")

    rules: RulesSection = Field(default_factory=RulesSection)
    corp_domains: dict[str, list[str]] = Field(default_factory=dict, description="corp_id -> its mail domains")
    routing: dict[str, Any] = Field(default_factory=dict, description="route, receivers, inhibit_rules, ...")
    sso: SsoLinksSection | None = None
    operator_alerts: bool = Field(True, description="raise a DeliveryFailed alert when a notification fails")
    backlog_alert_seconds: float = Field(
        300.0, gt=0, description="raise a DeliveryBacklog alert while a receiver's oldest waiting notification is "
                                 "older than this")
    stop_grace_seconds: float = Field(
        6.0, ge=0, description="on stop, in-flight sends may finish their current part for this long; the rest "
                               "resumes at the next start (keep the worker's whole stop under 10 s)")
    spread_notifications: bool = Field(
        False, description="key webhook receivers' notifications by group instead of by receiver, so several "
                           "delivery processes share one webhook (its per_minute then holds per process); chat "
                           "receivers stay keyed by receiver (their limits are per destination)")


class WorkerSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
