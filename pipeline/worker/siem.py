"""SIEM units: one batch consumer per configured sink (Elasticsearch/OpenSearch, Splunk HEC, syslog, JSON-lines
file), each in its own group "<app_id>.siem-<name>" reading exmail.events, so offsets commit only after that sink
made the batch durable and a slow sink never holds up the others."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Message
from pydantic import BaseModel, ValidationError

from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer, TopicNames
from pipeline.kafka.batch_output import Record, produce_all
from pipeline.sinks._batching import BatchConfig, deliver_batch
from pipeline.sinks.elasticsearch import ElasticsearchSink, ElasticsearchSinkConfig
from pipeline.sinks.jsonl_file import JsonlFileSink, JsonlFileSinkConfig
from pipeline.sinks.splunk_hec import SplunkHecSink, SplunkHecSinkConfig
from pipeline.sinks.syslog import SyslogSink, SyslogSinkConfig
from pipeline.worker.app import WorkerContext


def _kinds() -> dict[str, tuple[type[BaseModel], Callable[..., Any]]]:
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
            raise ValueError(f"worker.siem[{i}].type: must be one of {sorted(kinds)}, got {kind!r}")
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


class SiemBatch:
    """The batch handler of one SIEM sink: decode, send in chunks of the sink's `batch.max_records` (retried
    with backoff, refusals dead-lettered), then return so the offsets are committed."""

    def __init__(self, sink: Any, name: str, config: BatchConfig, producer: EventProducer,
                 names: TopicNames) -> None:
        self.sink = sink
        self.stage = f"siem:{name}"
        self._config = config
        self._producer = producer
        self._names = names
        self._letters = DeadLetters(names.dlq)

    async def __call__(self, batch: list[Message]) -> None:
        envs: list[Envelope] = []
        for msg in batch:
            value = msg.value()
            if value is None:
                continue
            try:
                envs.append(Envelope.decode(value))
            except EnvelopeError:
                continue  # the audit/normalize stages dead-letter malformed events
        letters: list[Record] = []
        events = self._names.events

        async def reject(items: list[tuple[Envelope, str]]) -> None:
            for env, reason in items:
                letters.append(self._letters.letter(stage=self.stage, reason=reason, error_type="rejected",
                                                    origin=Origin(events, None, None, None), payload=env.to_dict(),
                                                    corp_id=env.corp_id))

        step = self._config.max_records
        for i in range(0, len(envs), step):
            await deliver_batch(self.sink.name, self.sink.send, envs[i:i + step], self._config, dead_letter=reject)
        if letters:
            await produce_all(self._producer, letters, stage=self.stage)


def _install_one(ctx: WorkerContext, name: str, sink_cls: Callable[..., Any], cfg: Any) -> None:
    consumer = ctx.batch_consumer(f"siem-{name}", [ctx.names.events])
    handler = SiemBatch(sink_cls(cfg, name=name), name, cfg.batch, ctx.producer, ctx.names)

    async def close() -> None:
        await handler.sink.close()

    ctx.run_batch(consumer, handler, close=close)
