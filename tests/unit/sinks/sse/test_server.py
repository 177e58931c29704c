"""GET /stream over a fake Kafka consumer: auth, validation, limits, framing, heartbeats, slow clients."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest

from pipeline.metrics import REGISTRY
from pipeline.sinks.sse._position import Position
from pipeline.sinks.sse._wire import SseEvent, SseParser

TOPIC = "exmail.notifications"


class Stream:
    """Lines of one response, parsed as an EventSource would."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.lines = response.aiter_lines()
        self.parser = SseParser()
        self.raw: list[str] = []

    async def next_event(self) -> SseEvent:
        async with asyncio.timeout(10):
            async for line in self.lines:
                self.raw.append(line)
                for event in self.parser.feed(line):
                    return event
        raise AssertionError("stream ended")

    async def until_line(self, predicate: Callable[[str], bool]) -> None:
        async with asyncio.timeout(10):
            async for line in self.lines:
                self.raw.append(line)
                list(self.parser.feed(line))
                if predicate(line):
                    return
        raise AssertionError("stream ended")

    async def rest(self) -> list[SseEvent]:
        events: list[SseEvent] = []
        async with asyncio.timeout(20):
            async for line in self.lines:
                self.raw.append(line)
                events.extend(self.parser.feed(line))
        return events


@asynccontextmanager
async def stream(
    url: str,
    token: str | None,
    *,
    http: httpx.AsyncClient | None = None,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> AsyncIterator[Stream]:
    own = http is None
    client = http or httpx.AsyncClient(timeout=10)
    hdrs = {**({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    try:
        async with client.stream("GET", url, params=params, headers=hdrs) as response:
            assert response.status_code == 200, response.status_code
            s = Stream(response)
            await s.until_line(lambda line: line == ": stream open")
            await s.until_line(lambda line: line == "")
            yield s
    finally:
        if own:
            await client.aclose()


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def eventually(predicate: Callable[[], bool], what: str) -> None:
    """Wait for a state another thread or the server reaches (metrics, consumer state): not awaitable."""
    deadline = asyncio.get_running_loop().time() + 15
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


def decoded(event_id: str | None) -> dict[tuple[str, int], int]:
    assert event_id is not None
    return Position.decode(event_id).offsets


async def test_stream_requires_the_bearer_token(serve: Any, broker: Any, sse_token: str) -> None:
    url = (await serve()).url
    async with httpx.AsyncClient(timeout=10) as http:
        for headers, params in (
            ({}, {}),
            ({"Authorization": "Bearer wrong"}, {}),
            ({}, {"access_token": "wrong"}),
            ({"Authorization": f"Basic {sse_token}"}, {}),
        ):
            resp = await http.get(url, headers=headers, params=params)
            assert resp.status_code == 401, (headers, params)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert resp.json()["error"] in ("invalid credentials", "authentication required (viewer)")
    async with stream(url, sse_token) as s:
        assert s.response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert s.response.headers["cache-control"].startswith("no-cache")
    async with stream(url, None, access_token=sse_token) as s:
        assert s.parser.retry_ms == 3000


async def test_unknown_filter_is_rejected_with_the_allowed_list(
    serve: Any, broker: Any, sse_token: str
) -> None:
    url = (await serve(filters=["receiver", "severity"])).url
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(
            url, params={"receiver": "ops", "dataset": "x"}, headers={"Authorization": f"Bearer {sse_token}"}
        )
    assert resp.status_code == 400
    assert resp.json()["allowed_filters"] == ["receiver", "severity"]
    assert "'dataset'" in resp.json()["error"]


@pytest.mark.parametrize(
    ("params", "headers", "message"),
    [
        ({"from": "middle"}, {}, "from must be"),
        ({"since": "yesterday"}, {}, "RFC 3339"),
        ({"since": "2026-05-01T08:00:00"}, {}, "UTC offset"),
        ({"since": "2026-05-01T08:00:00Z", "from": "earliest"}, {}, "at most one"),
        ({}, {"Last-Event-ID": "garbage!"}, "Last-Event-ID"),
        ({"last_event_id": "e30x"}, {}, "Last-Event-ID"),
        ({"receiver": ""}, {}, "needs a value"),
    ],
)
async def test_bad_requests_get_400_with_the_reason(
    serve: Any, broker: Any, sse_token: str, params: dict[str, str], headers: dict[str, str], message: str
) -> None:
    url = (await serve()).url
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(url, params=params, headers={"Authorization": f"Bearer {sse_token}", **headers})
    assert resp.status_code == 400
    assert message in resp.json()["error"]
    assert broker.consumers == []


async def test_max_clients_gives_503_with_retry_after(serve: Any, broker: Any, sse_token: str) -> None:
    url = (await serve(max_clients=1, retry_after_seconds=7)).url
    async with stream(url, sse_token):
        async with httpx.AsyncClient(timeout=10) as http:
            resp = await http.get(url, headers={"Authorization": f"Bearer {sse_token}"})
        assert resp.status_code == 503
        assert resp.headers["Retry-After"] == "7"
    await eventually(lambda: all(c.closed for c in broker.consumers), "consumer closed")
    async with stream(url, sse_token):  # the slot is free again
        pass


async def test_missing_topic_gives_503_and_closes_the_consumer(
    serve: Any, broker: Any, sse_token: str
) -> None:
    url = (await serve(topics=["exmail.alerts"])).url
    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(url, headers={"Authorization": f"Bearer {sse_token}"})
    assert resp.status_code == 503
    assert resp.json() == {"error": "topic exmail.alerts is not available"}
    assert "Retry-After" in resp.headers
    await eventually(lambda: len(broker.consumers) == 1 and broker.consumers[0].closed, "consumer closed")


async def test_events_carry_kind_position_and_one_line_json(
    serve: Any, broker: Any, sse_token: str, make_notification: Callable[..., dict]
) -> None:
    url = (await serve()).url
    events_before = metric("exmail_sse_events_total", stream="notification")
    async with stream(url, sse_token) as s:
        assert decoded(s.parser.last_event_id) == {("notification", 0): 0, ("notification", 1): 0}
        pretty = orjson.dumps(make_notification(1), option=orjson.OPT_INDENT_2)
        assert b"\n" in pretty
        broker.append(TOPIC, 1, pretty)
        first = await s.next_event()
        assert first.event == "notification"
        assert first.json() == make_notification(1)
        assert decoded(first.id) == {("notification", 0): 0, ("notification", 1): 1}
        assert [line for line in s.raw if line.startswith("data:")] == [
            f"data: {orjson.dumps(first.json()).decode()}"
        ]
        broker.append(TOPIC, 0, b"not json")
        broker.append(TOPIC, 0, None)
        invalid = [await s.next_event(), await s.next_event()]
        assert [e.event for e in invalid] == ["invalid", "invalid"]
        assert [(e.json()["partition"], e.json()["offset"]) for e in invalid] == [(0, 0), (0, 1)]
        assert decoded(invalid[1].id) == {("notification", 0): 2, ("notification", 1): 1}
    assert metric("exmail_sse_events_total", stream="notification") == events_before + 1


async def test_filters_select_records_and_heartbeats_carry_the_position(
    serve: Any, broker: Any, sse_token: str, make_notification: Callable[..., dict]
) -> None:
    url = (await serve(heartbeat_seconds=0.2)).url
    async with stream(url, sse_token, severity="critical", receiver=["ops", "sec"]) as s:
        broker.append_json(TOPIC, 0, make_notification(1, severity="warning"))
        broker.append_json(TOPIC, 0, make_notification(2, severity="critical", receiver="other"))
        broker.append_json(TOPIC, 1, make_notification(3, severity="critical", receiver="sec"))
        broker.append_json(TOPIC, 0, make_notification(4, severity="critical", receiver="ops"))
        got = [await s.next_event(), await s.next_event()]
        assert sorted(e.json()["data"]["seq"] for e in got) == [3, 4]
        broker.append_json(TOPIC, 1, make_notification(5, severity="info"))
        await s.until_line(lambda line: line == ": keepalive")
        await s.until_line(lambda line: line == "")
        assert decoded(s.parser.last_event_id) == {("notification", 0): 3, ("notification", 1): 2}
        await s.until_line(lambda line: line == ": keepalive")
        assert s.raw[-1] == ": keepalive"


async def test_disconnect_closes_the_consumer(serve: Any, broker: Any, sse_token: str) -> None:
    url = (await serve()).url
    clients_before = metric("exmail_sse_clients")
    async with stream(url, sse_token):
        assert metric("exmail_sse_clients") == clients_before + 1
        assert broker.consumers[0].conf["enable.auto.commit"] is False
    await eventually(lambda: broker.consumers[0].closed, "consumer closed after the client left")
    await eventually(lambda: metric("exmail_sse_clients") == clients_before, "gauge back")


async def test_resume_from_last_event_id_header_or_query(
    serve: Any, broker: Any, sse_token: str, make_notification: Callable[..., dict]
) -> None:
    for seq in range(6):
        broker.append_json(TOPIC, seq % 2, make_notification(seq))
    url = (await serve()).url
    earliest: dict[str, Any] = {"from": "earliest"}
    async with stream(url, sse_token, **earliest) as s:
        first = [await s.next_event() for _ in range(2)]
    latest: dict[str, Any] = {"from": "latest", "headers": {"Last-Event-ID": first[-1].id or ""}}
    async with stream(url, sse_token, **latest) as s:
        rest = [await s.next_event() for _ in range(4)]
    seqs = [e.json()["data"]["seq"] for e in first + rest]
    assert sorted(seqs) == list(range(6))
    async with stream(url, sse_token, last_event_id=first[-1].id) as s:
        again = [await s.next_event() for _ in range(4)]
    assert sorted(e.json()["data"]["seq"] for e in again) == sorted(e.json()["data"]["seq"] for e in rest)


async def test_resume_past_the_end_of_the_log_reports_a_gap(
    serve: Any, broker: Any, sse_token: str, make_notification: Callable[..., dict]
) -> None:
    broker.append_json(TOPIC, 0, make_notification(0))
    url = (await serve()).url
    cursor = Position({("notification", 0): 50, ("notification", 1): 0}).encode()
    async with stream(url, sse_token, headers={"Last-Event-ID": cursor}) as s:
        gap = await s.next_event()
        assert gap.event == "gap"
        assert gap.json() == {
            "kind": "notification",
            "partition": 0,
            "requested": 50,
            "resumed_at": 0,
            "reason": "reset",
        }
        assert (await s.next_event()).json()["data"]["seq"] == 0


async def test_slow_client_is_dropped_with_overflow_and_resumes_without_gap(
    serve: Any, broker: Any, sse_token: str, make_notification: Callable[..., dict]
) -> None:
    url = (await serve(max_backlog=5, slow_client_seconds=0.3)).url
    dropped = metric("exmail_sse_dropped_clients_total", reason="overflow")
    transport = httpx.AsyncHTTPTransport(socket_options=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)])
    total = 600
    async with (
        httpx.AsyncClient(timeout=10, transport=transport) as http,
        stream(url, sse_token, http=http) as s,
    ):
        for seq in range(total):  # ~1 KiB each: far more than the socket buffers hold
            broker.append_json(TOPIC, 0, {**make_notification(seq), "pad": "x" * 1000})
        await eventually(
            lambda: metric("exmail_sse_dropped_clients_total", reason="overflow") == dropped + 1,
            "the client that stopped reading is dropped",
        )
        received = await s.rest()
    assert received[-1].event == "overflow"
    assert received[-1].json()["reason"] == "overflow"
    delivered = [e.json()["data"]["seq"] for e in received[:-1]]
    assert delivered == list(range(len(delivered)))
    assert 0 < len(delivered) < total
    assert decoded(received[-1].id)[("notification", 0)] == len(delivered)
    async with stream(url, sse_token, headers={"Last-Event-ID": received[-1].id or ""}) as s:
        rest = [(await s.next_event()).json()["data"]["seq"] for _ in range(total - len(delivered))]
    assert delivered + rest == list(range(total))


async def test_shutdown_ends_open_streams_with_their_position(
    serve: Any, broker: Any, sse_token: str, make_notification: Callable[..., dict]
) -> None:
    served = await serve(heartbeat_seconds=0.1)
    dropped = metric("exmail_sse_dropped_clients_total", reason="shutdown")
    async with stream(served.url, sse_token, receiver="nobody") as s:
        broker.append_json(TOPIC, 1, make_notification(1))
        await s.until_line(lambda line: line.startswith("id: ") and s.raw[-2] == ": keepalive")
        shutdown = asyncio.create_task(served.runner.shutdown())
        assert await s.rest() == []
        await shutdown
    assert s.raw[-3:] == [": server shutdown", s.raw[-2], ""]
    assert decoded(s.parser.last_event_id) == {("notification", 0): 0, ("notification", 1): 1}
    assert metric("exmail_sse_dropped_clients_total", reason="shutdown") == dropped + 1
    await eventually(lambda: broker.consumers[0].closed, "consumer closed")


async def test_token_never_reaches_the_logs(
    serve: Any, broker: Any, sse_token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = (await serve()).url
    async with stream(url, None, access_token=sse_token):
        pass
    async with httpx.AsyncClient(timeout=10) as http:
        await http.get(url, params={"access_token": sse_token + "x"})
    await eventually(lambda: "closed after" in caplog.text, "close logged")
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("pipeline"))
    assert "access_token=***" in ours
    assert sse_token not in ours


def test_since_accepts_rfc3339_offsets_and_an_unescaped_plus() -> None:
    from pipeline.sinks.sse.server import RequestError, parse_since

    expected = 1777593600000  # 2026-05-01T00:00:00Z
    assert parse_since("2026-05-01T00:00:00Z") == expected
    assert parse_since("2026-05-01T08:00:00+08:00") == expected
    assert parse_since("2026-05-01T08:00:00 08:00") == expected  # '+' decoded to ' ' in a query string
    assert parse_since("2026-05-01T00:00:00.250Z") == expected + 250
    with pytest.raises(RequestError, match="UTC offset"):
        parse_since("2026-05-01T00:00:00")
