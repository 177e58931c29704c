"""Splunk HEC sink against a protocol-exact HEC receiver over TCP (token, codes, indexer acknowledgement)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import Envelope
from pipeline.sinks._batching import BatchConfig, BatchingLoop, RetriableSinkError
from pipeline.sinks.splunk_hec import HecRequestError, SplunkHecSink, SplunkHecSinkConfig

EventFactory = Callable[..., Envelope]

pytestmark = pytest.mark.integration


async def no_sleep(_: float) -> None:
    return None


def make_sink(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, token: str | None = None, **cfg: Any) -> SplunkHecSink:
    monkeypatch.setenv("TEST_HEC_TOKEN", token or fake_hec.token)
    config = SplunkHecSinkConfig(url=fake_hec.url, token="env:TEST_HEC_TOKEN", host="mx-1", **cfg)
    return SplunkHecSink(config, sleep=no_sleep)


async def test_batch_is_posted_as_hec_events_with_the_token(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    sink = make_sink(fake_hec, monkeypatch, index="exmail")
    events = [audit_event(i) for i in range(5)]
    try:
        outcome = await sink.send(events)
    finally:
        await sink.close()
    assert (outcome.retry, outcome.rejected) == ([], [])
    assert [e["fields"]["event_id"] for e in fake_hec.events] == [e.id for e in events]
    first = fake_hec.events[0]
    assert (first["index"], first["sourcetype"], first["host"]) == ("exmail", "exmail:event", "mx-1")
    assert first["event"]["user"]["email"] == "alice@example.com"
    assert first["time"] == pytest.approx(1793872800.0)


async def test_wrong_token_is_a_retriable_auth_failure_and_never_shown(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    sink = make_sink(fake_hec, monkeypatch, token="00000000-dead-beef-0000-000000000000")
    try:
        with pytest.raises(RetriableSinkError) as info:
            await sink.send([audit_event(1)])
    finally:
        await sink.close()
    assert info.value.reason == "auth" and "Invalid token" in str(info.value)
    assert "dead-beef" not in str(info.value) and "dead-beef" not in repr(sink)


async def test_busy_server_is_retried_by_the_loop(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    fake_hec.busy_responses = 2
    sink = make_sink(fake_hec, monkeypatch)
    acked: list[Any] = []

    async def on_ack(tokens: list[Any]) -> None:
        acked.extend(tokens)

    loop = BatchingLoop.for_sender(sink, BatchConfig(retry_initial_seconds=0.001, retry_max_seconds=0.01,
                                                     max_age_seconds=60), on_ack=on_ack)
    async with loop:
        for i in range(3):
            await loop.put(audit_event(i), token=i)
        await loop.flush()
    await sink.close()
    assert acked == [0, 1, 2] and len(fake_hec.events) == 3


async def test_indexer_acknowledgement_is_awaited_on_the_channel(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    fake_hec.ack_enabled, fake_hec.polls_until_indexed = True, 3
    sink = make_sink(fake_hec, monkeypatch, use_ack=True, ack_poll_seconds=0.01)
    try:
        await sink.send([audit_event(1), audit_event(2)])
        await sink.send([audit_event(3)])
    finally:
        await sink.close()
    assert fake_hec.channels == {sink.channel}
    assert fake_hec._pending == {(sink.channel, 0): 3, (sink.channel, 1): 3}


async def test_ack_timeout_resends_the_batch(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    fake_hec.ack_enabled, fake_hec.never_index = True, True
    sink = make_sink(fake_hec, monkeypatch, use_ack=True, ack_poll_seconds=0.01, ack_timeout_seconds=0.05)
    try:
        with pytest.raises(RetriableSinkError) as info:
            await sink.send([audit_event(1)])
    finally:
        await sink.close()
    assert info.value.reason == "ack_timeout"


async def test_unknown_ack_channel_gets_a_new_channel_and_a_retry(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hec.ack_enabled = True
    sink = make_sink(fake_hec, monkeypatch, use_ack=True, ack_poll_seconds=0.01)
    old = sink.channel
    try:
        with pytest.raises(RetriableSinkError) as info:
            await sink._wait_ack(0)  # HEC never saw this channel (e.g. it restarted)
    finally:
        await sink.close()
    assert info.value.reason == "channel" and sink.channel != old


async def test_invalid_event_is_dead_lettered_and_the_rest_resent(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    events = [audit_event(i) for i in range(5)]
    events[2].data = {"poison": True}
    sink = make_sink(fake_hec, monkeypatch)
    dead: list[tuple[Any, str]] = []

    async def dead_letter(items: list[tuple[Any, str]]) -> None:
        dead.extend(items)

    loop = BatchingLoop.for_sender(sink, BatchConfig(retry_initial_seconds=0.001, max_age_seconds=60),
                                   dead_letter=dead_letter)
    async with loop:
        for env in events:
            await loop.put(env)
        await loop.flush()
    await sink.close()
    assert [(env.id, reason) for env, reason in dead] == [(events[2].id, "splunk hec code 13: Event field cannot"
                                                                         " be blank")]
    assert [e["fields"]["event_id"] for e in fake_hec.events] == [events[i].id for i in (0, 1, 3, 4)]


async def test_ack_disabled_on_the_token_is_tolerated(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    sink = make_sink(fake_hec, monkeypatch, use_ack=True, ack_poll_seconds=0.01)
    try:
        outcome = await sink.send([audit_event(1)])
    finally:
        await sink.close()
    assert outcome.retry == [] and len(fake_hec.events) == 1


async def test_incorrect_index_is_refused_without_retry(
        fake_hec: Any, monkeypatch: pytest.MonkeyPatch, audit_event: EventFactory) -> None:
    sink = make_sink(fake_hec, monkeypatch, index="not_allowed")
    try:
        with pytest.raises(HecRequestError, match="code 7"):
            await sink.send([audit_event(1)])
    finally:
        await sink.close()
    assert fake_hec.events == []
