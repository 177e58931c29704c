"""Elasticsearch sink against a protocol-exact `_bulk` receiver over TCP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import Envelope
from pipeline.metrics import REGISTRY
from pipeline.sinks._batching import BatchConfig, BatchingLoop, RetriableSinkError
from pipeline.sinks.elasticsearch import BulkRequestError, ElasticsearchSink, ElasticsearchSinkConfig

EventFactory = Callable[..., Envelope]

pytestmark = pytest.mark.integration


def make_sink(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, name: str = "es_test", **cfg: Any) -> ElasticsearchSink:
    monkeypatch.setenv("TEST_ES_API_KEY", fake_es.api_key)
    return ElasticsearchSink(ElasticsearchSinkConfig(url=fake_es.url, api_key="env:TEST_ES_API_KEY", **cfg),
                             name=name)


async def test_create_with_event_id_then_replay_is_counted_as_duplicates(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    sink = make_sink(fake_es, monkeypatch)
    events = [audit_event(i) for i in range(5)]
    try:
        first = await sink.send(events)
        second = await sink.send(events)
    finally:
        await sink.close()
    assert (first.duplicates, first.retry, first.rejected) == (0, [], [])
    assert (second.duplicates, second.retry, second.rejected) == (5, [], [])
    assert set(fake_es.docs) == {("exmail-events", e.id) for e in events}
    assert fake_es.docs[("exmail-events", events[0].id)]["event"]["id"] == events[0].id


async def test_only_items_that_failed_with_429_are_resent(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    events = [audit_event(i) for i in range(6)]
    fake_es.transient_item_failures = {events[1].id: 2, events[4].id: 1}
    sink = make_sink(fake_es, monkeypatch)
    acked: list[Any] = []

    async def on_ack(tokens: list[Any]) -> None:
        acked.extend(tokens)

    loop = BatchingLoop.for_sender(sink, BatchConfig(retry_initial_seconds=0.001, retry_max_seconds=0.01,
                                                     max_age_seconds=60), on_ack=on_ack)
    async with loop:
        for i, env in enumerate(events):
            await loop.put(env, token=i)
        await loop.flush()
    await sink.close()
    assert fake_es.requests == [[e.id for e in events], [events[1].id, events[4].id], [events[1].id]]
    assert len(fake_es.docs) == 6 and acked == list(range(6))


async def test_mapping_errors_go_to_the_dead_letter_queue_with_the_reason(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    good, bad = audit_event(1), audit_event(2)
    bad.data["event"]["outcome"] = {"not": "a keyword"}
    sink = make_sink(fake_es, monkeypatch)
    dead: list[tuple[Any, str]] = []

    async def dead_letter(items: list[tuple[Any, str]]) -> None:
        dead.extend(items)

    loop = BatchingLoop.for_sender(sink, BatchConfig(max_age_seconds=60), dead_letter=dead_letter)
    async with loop:
        await loop.put(good)
        await loop.put(bad)
        await loop.flush()
    await sink.close()
    assert [(env.id, reason.split(":")[0]) for env, reason in dead] == [
        (bad.id, "elasticsearch 400 document_parsing_exception")]
    assert "event.outcome" in dead[0][1]
    assert set(fake_es.docs) == {("exmail-events", good.id)}


async def test_whole_request_failures_are_retriable_or_refused(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    sink = make_sink(fake_es, monkeypatch)
    try:
        fake_es.request_failures = [429]
        with pytest.raises(RetriableSinkError) as info:
            await sink.send([audit_event(1)])
        assert info.value.reason == "throttled"
        fake_es.request_failures = [503]
        with pytest.raises(RetriableSinkError):
            await sink.send([audit_event(1)])
        fake_es.request_failures = [400]
        with pytest.raises(BulkRequestError, match="HTTP 400"):
            await sink.send([audit_event(1)])
    finally:
        await sink.close()


async def test_wrong_credentials_are_retried_and_never_shown(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    monkeypatch.setenv("TEST_ES_API_KEY", "d3Jvbmcta2V5LXZhbHVlOnNlY3JldA==")
    sink = ElasticsearchSink(ElasticsearchSinkConfig(url=fake_es.url, api_key="env:TEST_ES_API_KEY"))
    try:
        with pytest.raises(RetriableSinkError) as info:
            await sink.send([audit_event(1)])
    finally:
        await sink.close()
    assert info.value.reason == "auth"
    assert "d3Jvbmcta2V5" not in str(info.value) and "d3Jvbmcta2V5" not in repr(sink)


async def test_too_large_requests_are_split(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    events = [audit_event(i, extra={"padding": "x" * 2000}) for i in range(8)]
    fake_es.max_content_length = 6000
    sink = make_sink(fake_es, monkeypatch)
    try:
        outcome = await sink.send(events)
    finally:
        await sink.close()
    assert outcome.rejected == [] and outcome.retry == []
    assert len(fake_es.docs) == 8 and all(len(r) <= 2 for r in fake_es.requests)


async def test_unreachable_cluster_is_retriable(
        audit_event: EventFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_ES_API_KEY", "a2V5")
    sink = ElasticsearchSink(ElasticsearchSinkConfig(url="http://127.0.0.1:1", api_key="env:TEST_ES_API_KEY"))
    try:
        with pytest.raises(RetriableSinkError) as info:
            await sink.send([audit_event(1)])
    finally:
        await sink.close()
    assert info.value.reason == "connect"


async def test_metrics_count_written_and_duplicate_records(
        fake_es: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    sink = make_sink(fake_es, monkeypatch, name="es_metrics")
    events = [audit_event(i) for i in range(4)]
    loop = BatchingLoop.for_sender(sink, BatchConfig(max_age_seconds=60))
    async with loop:
        for env in events + events[:2]:
            await loop.put(env)
        await loop.flush()
    await sink.close()

    def value(outcome: str) -> float:
        return REGISTRY.get_sample_value("exmail_sink_records_total", {"sink": "es_metrics", "outcome": outcome}) or 0

    assert (value("written"), value("duplicate")) == (4, 2)
