"""The `alerting` section of the pipeline config: rules, the route tree with its receivers, SSO links, and the
delivery knobs. Alerting owns it (the worker only reads it); `pipeline.config` composes it with the others.

Validated once, when the config is: the rule pack is loaded (`rules.pack`), the route tree is parsed
(`routing` is a RoutingConfig), and each receiver's sink config is checked against its `kind` (`sinks`).
Sink secrets stay references here (validation context {"resolve_secrets": True} resolves them, as
`pipeline check-config --resolve-secrets` does); the delivery agent resolves them when it builds its sinks.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, ValidationInfo, field_validator

from pipeline.sinks.registry import UnknownSinkKind, validate_receiver
from pipeline.transforms.routing.config import RoutingConfig, RoutingConfigError, parse_routing_config
from pipeline.transforms.rules.config import RulesSection

RECEIVER_HINT = "see the receiver kind's config"


class SsoLinksSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str = Field(..., pattern=r"^https?://", description="public URL of the ingest redirector's /sso")
    secret: str = Field(..., description="HMAC key reference, env:NAME or file:/path (shared with ingest)")
    ttl_seconds: int = Field(900, ge=60, le=7 * 86400)


def receiver_sinks(routing: RoutingConfig, *, resolve_secrets: bool) -> dict[str, Any]:
    """The sink config of every receiver that has a `kind` (receivers without one only group/mute: a
    blackhole). Raises RoutingConfigError naming each bad field as "receivers[i].field: problem"."""
    out: dict[str, Any] = {}
    errors: list[str] = []
    for i, receiver in enumerate(routing.receivers):
        extra = dict(receiver.model_extra or {})
        if "kind" not in extra:
            continue
        try:
            out[receiver.name] = validate_receiver({**extra, "name": receiver.name},
                                                   context={"resolve_secrets": resolve_secrets})
        except UnknownSinkKind as exc:
            errors.append(f"receivers[{i}].kind: {exc}")
        except ValidationError as exc:
            for e in exc.errors():
                # drop the discriminator tag pydantic puts first in the location (e.g. "wecom_robot")
                loc = [p for j, p in enumerate(e["loc"]) if not (j == 0 and p == extra["kind"])]
                field = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)
                errors.append(f"receivers[{i}]{field}: {e['msg']}")
    if errors:
        raise RoutingConfigError(errors, hint=RECEIVER_HINT)
    return out


class AlertingSection(BaseModel):
    """Rules over exmail.events, Alertmanager-style routing, and the receivers (delivery sinks).

    Each entry of `routing.receivers` is a receiver (`name`, `send_resolved`) plus, when it delivers, its sink
    config (`kind:` one of the receiver kinds in pipeline/sinks/registry.py, and that sink's fields)."""

    model_config = ConfigDict(extra="forbid")

    rules: RulesSection = Field(default_factory=RulesSection)
    corp_domains: dict[str, list[str]] = Field(default_factory=dict, description="corp_id -> its mail domains")
    routing: RoutingConfig | None = Field(None, description="route, receivers, inhibit_rules, ...")
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
    _sinks: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("routing", mode="before")
    @classmethod
    def _parse_routing(cls, value: Any, info: ValidationInfo) -> RoutingConfig | None:
        """Through the routing's own parser (its messages name the field); then every receiver's sink."""
        if value is None or value == {}:
            return None
        routing = value if isinstance(value, RoutingConfig) else parse_routing_config(value)
        resolve = isinstance(info.context, dict) and bool(info.context.get("resolve_secrets"))
        receiver_sinks(routing, resolve_secrets=resolve)
        return routing

    def receivers(self) -> dict[str, Any]:
        """receiver name -> its sink config with secrets resolved (the delivery agent's sinks)."""
        if self.routing is None:
            return {}
        if not self._sinks:
            self._sinks = receiver_sinks(self.routing, resolve_secrets=True)
        return self._sinks
