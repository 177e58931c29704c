"""SIEM agents: one per configured sink (Elasticsearch/OpenSearch, Splunk HEC, syslog, JSON-lines file), each
reading exmail.events with manual acks, so offsets commit only after every sink made the event durable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from pipeline.dlq import Origin, dead_letter
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.metrics import DLQ_RECORDS
from pipeline.sinks._batching import BatchConfig, BatchingLoop
from pipeline.worker.app import WorkerContext


def _kinds() -> dict[str, tuple[type[BaseModel], Callable[..., Any]]]:
    from pipeline.sinks.elasticsearch import ElasticsearchSink, ElasticsearchSinkConfig
    from pipeline.sinks.jsonl_file import JsonlFileSink, JsonlFileSinkConfig
    from pipeline.sinks.splunk_hec import SplunkHecSink, SplunkHecSinkConfig
    from pipeline.sinks.syslog import SyslogSink, SyslogSinkConfig

    return {
        "elasticsearch": (ElasticsearchSinkConfig, ElasticsearchSink),
        "jsonl_file": (JsonlFileSinkConfig, JsonlFileSink),
        "splunk_hec": (SplunkHecSinkConfig, SplunkHecSink),
        "syslog": (SyslogSinkConfig, SyslogSink),
    }


def parse_siem_configs(items: list[dict[str, Any]]) -> list[tuple[str, str, BaseModel]]:
    """[(name, type, config)] from the worker.siem list; raises ValueError naming the entry and field."""
    kinds = _kinds()
    out: list[tuple[str, str, BaseModel]] = []
    for i, raw in enumerate(items):
        body = dict(raw)
        kind = body.pop("type", None)
        name = str(body.pop("name", kind or f"siem{i}"))
        if kind not in kinds:
            raise ValueError(f"worker.siem[{i}].type must be one of {sorted(kinds)}, got {kind!r}")
        try:
            out.append((name, kind, kinds[kind][0].model_validate(body)))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"worker.siem[{i}].{loc}: {first['msg']}") from None
    return out


def install_siem(ctx: WorkerContext) -> None:
    kinds = _kinds()
    for name, kind, cfg in parse_siem_configs(ctx.config.worker.siem):
        _install_one(ctx, name, kinds[kind][1], cfg)


def _install_one(ctx: WorkerContext, name: str, sink_cls: Callable[..., Any], cfg: Any) -> None:
    app, names = ctx.app, ctx.names
    events = ctx.topic(names.events)
    dlq = ctx.topic(names.dlq)
    stage = f"siem:{name}"

    @app.agent(events, name=f"siem-{name}")
    async def siem_agent(stream: Any) -> None:
        manual = stream.noack()
        sink = sink_cls(cfg, name=name)
        batch_cfg: BatchConfig = cfg.batch

        async def ack(tokens: list[Any]) -> None:
            for event in tokens:
                await manual.ack(event)

        async def reject(items: list[tuple[Envelope, str]]) -> None:
            for env, reason in items:
                letter = dead_letter(stage=stage, reason=reason, error_type="rejected",
                                     origin=Origin(names.events, None, None, None), payload=env.to_dict(),
                                     corp_id=env.corp_id)
                await dlq.send(key=names.events.encode(), value=letter.encode())
                DLQ_RECORDS.labels(stage, "rejected").inc()

        loop: BatchingLoop[Envelope] = BatchingLoop.for_sender(sink, batch_cfg, on_ack=ack, dead_letter=reject)
        await loop.start()
        try:
            async for event in manual.events():
                try:
                    env = Envelope.decode(event.value)
                except EnvelopeError:
                    await manual.ack(event)  # the audit/normalize stages dead-letter malformed events
                    continue
                await loop.put(env, token=event)
        finally:
            await loop.stop()
            await sink.close()
