"""What a sink folder declares about itself (its `SINK`), so the registry can list it under its `kind:`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

#: where a sink plugs in, and so where its config lives:
#: receiver -> alerting.routing.receivers[] (notifications), siem -> worker.siem[] (exmail.events in batches),
#: audit -> worker.audit (the audit store), stream -> worker.sse (clients pull over HTTP)
Role = Literal["receiver", "siem", "audit", "stream"]

SECTION: dict[Role, str] = {
    "receiver": "alerting.routing.receivers",
    "siem": "worker.siem",
    "audit": "worker.audit",
    "stream": "worker.sse",
}


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """One destination: its `kind:`, its role, its config model and how to build it from that config.

    `build` takes the validated config; per role: receiver `build(config, clock=, client=)` -> a DeliverySink;
    siem `build(config, name=)` -> a BatchSender; audit `await build(config, resolve=)` -> an AuditStore;
    stream `build(config, kafka, names)` -> the HTTP sub-app."""

    kind: str
    role: Role
    config: type[BaseModel]
    build: Callable[..., Any]
    summary: str
