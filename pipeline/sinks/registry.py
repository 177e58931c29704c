"""The one sink registry: every destination the pipeline writes to, by its `kind:`.

Each sink folder (pipeline/sinks/<kind>/, or pipeline/sinks/audit/<kind>/ for audit backends) declares
`SINK = SinkSpec(kind, role, config model, build, summary)` in its __init__ and owns everything about its
destination: config (with `kind: Literal["<kind>"]`), encoder, request builder, service with its error table,
its colours, the batching or retry policy it needs, and its tests. The registry lists them once, below; the
worker, `pipeline check-config` and the config docs ask it, so adding a destination is its folder plus its
line in `SINKS` (and its name in the import above it).

The role says where the config lives (pipeline.sinks._spec.SECTION): receivers under alerting.routing.receivers,
SIEM sinks under worker.siem, audit backends as worker.audit, the SSE stream as worker.sse. A kind named in the
wrong place gets an error saying where it belongs. SIEM entries used `type:` before; it is still read, as a
deprecated alias of `kind:`, with a warning (`deprecated_siem_keys`, shown by check-config).
"""

from __future__ import annotations

import functools
import logging
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.secrets import resolve_secret
from pipeline.sinks import (
    dingtalk,
    elasticsearch,
    feishu,
    jsonl_file,
    splunk_hec,
    sse,
    syslog,
    webhook,
    wecom_app,
    wecom_robot,
)
from pipeline.sinks._batching import BatchSender
from pipeline.sinks._spec import SECTION, Role, SinkSpec
from pipeline.sinks.audit import postgres, sqlite
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.audit.store import AuditStore
from pipeline.sinks.delivery.sink import Sink

log = logging.getLogger(__name__)


def _index(*specs: SinkSpec) -> Mapping[str, SinkSpec]:
    out: dict[str, SinkSpec] = {}
    for spec in specs:
        if spec.kind in out:
            raise RuntimeError(f"two sinks register kind {spec.kind!r}")
        out[spec.kind] = spec
    return MappingProxyType(out)


SINKS: Mapping[str, SinkSpec] = _index(
    wecom_robot.SINK,
    wecom_app.SINK,
    webhook.SINK,
    dingtalk.SINK,
    feishu.SINK,
    elasticsearch.SINK,
    splunk_hec.SINK,
    syslog.SINK,
    jsonl_file.SINK,
    sqlite.SINK,
    postgres.SINK,
    sse.SINK,
)


class UnknownSinkKind(ValueError):
    """A `kind:` no sink registers for this place in the config; the message names the kinds that fit."""


def kinds(role: Role) -> list[str]:
    """The kinds configurable in `role`'s section, in registry order."""
    return [kind for kind, spec in SINKS.items() if spec.role == role]


def spec_for(kind: object, role: Role) -> SinkSpec:
    """The registered sink for `kind` in `role`'s section, or UnknownSinkKind saying what to write instead."""
    allowed = ", ".join(kinds(role))
    if not isinstance(kind, str) or not kind:
        raise UnknownSinkKind(f"needs 'kind:' naming one of: {allowed}")
    spec = SINKS.get(kind)
    if spec is None:
        raise UnknownSinkKind(f"unknown kind {kind!r}; one of: {allowed}")
    if spec.role != role:
        raise UnknownSinkKind(f"kind {kind!r} is a {spec.role} sink: configure it under {SECTION[spec.role]} "
                              f"(here: {allowed})")
    return spec


def _union(role: Role) -> Any:
    models = [spec.config for spec in SINKS.values() if spec.role == role]
    return Annotated[functools.reduce(operator.or_, models), Field(discriminator="kind")]


#: every receiver config, discriminated by `kind` (alerting.routing.receivers[] entries that deliver)
RECEIVER_CONFIG: TypeAdapter[Any] = TypeAdapter(_union("receiver"))
#: every SIEM sink config, discriminated by `kind` (worker.siem[] entries, without their `name`)
SIEM_CONFIG: TypeAdapter[Any] = TypeAdapter(_union("siem"))


def validate_receiver(raw: Mapping[str, Any], *, context: dict[str, Any] | None = None) -> BaseModel:
    """A receiver's sink config (`kind` and that sink's fields, `name` included); UnknownSinkKind for a kind
    that is not a receiver, pydantic's ValidationError (locations without the kind tag) for bad fields."""
    return spec_for(raw.get("kind"), "receiver").config.model_validate(dict(raw), context=context)


def build_receiver(config: BaseModel, *, clock: Clock = SYSTEM_CLOCK, client: httpx.AsyncClient | None = None) -> Sink:
    """One delivery sink per receiver config; each owns its httpx client unless `client` is given."""
    sink: Sink = spec_for(getattr(config, "kind", None), "receiver").build(config, clock=clock, client=client)
    return sink


@dataclass(frozen=True, slots=True)
class SiemEntry:
    """One worker.siem[] entry: its name (metrics label, consumer group suffix), kind and validated config."""

    name: str
    kind: str
    config: BaseModel

    def build(self) -> BatchSender[Any]:
        sink: BatchSender[Any] = SINKS[self.kind].build(self.config, name=self.name)
        return sink


def _siem_kind(raw: Mapping[str, Any], where: str) -> tuple[object, bool]:
    """(kind, read from the deprecated `type:`)."""
    if "type" in raw and "kind" in raw:
        raise ValueError(f"{where}: has both 'kind' and the deprecated 'type'; keep only 'kind'")
    if "type" in raw:
        return raw["type"], True
    return raw.get("kind"), False


def deprecated_siem_keys(items: Sequence[Any]) -> list[tuple[int, str]]:
    """(index, message) for every worker.siem entry still written with `type:` (read as `kind:`)."""
    out = []
    for i, raw in enumerate(items):
        if isinstance(raw, Mapping) and "type" in raw and "kind" not in raw:
            out.append((i, f"'type: {raw['type']}' is deprecated; write 'kind: {raw['type']}'"))
    return out


def parse_siem(items: Sequence[Any], *, warn: Callable[[str], None] | None = None) -> list[SiemEntry]:
    """worker.siem[] -> validated entries; ValueError naming the entry and field ("worker.siem[1].port: ...").
    Entries written with the deprecated `type:` are read as `kind:` and reported through `warn` (default: a log
    warning)."""
    report = warn or log.warning
    out: list[SiemEntry] = []
    for i, raw in enumerate(items):
        where = f"worker.siem[{i}]"
        if not isinstance(raw, Mapping):
            raise ValueError(f"{where}: must be a mapping with 'kind:' and the sink's fields")
        kind, deprecated = _siem_kind(raw, where)
        try:
            spec = spec_for(kind, "siem")
        except UnknownSinkKind as exc:
            raise ValueError(f"{where}.kind: {exc}") from None
        if deprecated:
            report(f"{where}: 'type: {kind}' is deprecated; write 'kind: {kind}'")
        body = {k: v for k, v in raw.items() if k not in ("type", "name")}
        body["kind"] = kind
        try:
            config = spec.config.model_validate(body)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where}.{loc}: {first['msg']}") from None
        out.append(SiemEntry(str(raw.get("name", kind)), spec.kind, config))
    return out


async def open_audit_store(config: AuditStoreConfig, *,
                           resolve: Callable[[str], str] = resolve_secret) -> AuditStore:
    """Open (creating tables if needed) the audit backend `worker.audit.kind` names."""
    store: AuditStore = await spec_for(config.kind, "audit").build(config, resolve=resolve)
    return store
