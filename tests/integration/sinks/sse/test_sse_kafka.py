"""GET /sse/stream on the real broker: filters, exact resume, start positions, auth, the client helper."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from pipeline.envelope import utc_iso
from pipeline.metrics import REGISTRY
from pipeline.sinks.sse._position import Position
from pipeline.sinks.sse._wire import SseEvent, SseParser
from pipeline.sinks.sse.client import SseClient, SseError

pytestmark = pytest.mark.integration

Builders = dict[str, Callable[..., tuple[str, dict[str, Any]]]]
NOTIFICATIONS = "exmail.notifications"


def _seqs(events: list[Any]) -> list[int]:
    return [e.json()["data"]["sequence"] for e in events if e.event == "notification"]


def _ends(delivered: list[Any], kind: str = "notification") -> dict[tuple[str, int], int]:
    ends: dict[tuple[str, int], int] = {}
    for d in delivered:
        ends[(kind, d.partition)] = max(ends.get((kind, d.partition), 0), d.offset + 1)
    return ends


async def test_filters_select_matching_notifications(sse_env: Any, builders: Builders, follow: Any) -> None:
    n = builders["notification"]
    records = [
        n(0, receiver="cs-robot", severity="critical", corp="wm1"),
        n(1, receiver="cs-robot", severity="warning", corp="wm1"),
        n(2, receiver="ops", severity="critical", corp="wm1"),
        n(3, receiver="cs-robot", severity="critical", corp="wm2", user="carol@example.com"),
        n(4, receiver="cs-robot", severity="critical", corp="wm1", alertname="NewMail"),
        n(5, receiver="cs-robot", severity="high", corp="wm1"),
    ]
    delivered = await sse_env.produce(NOTIFICATIONS, records)
    url = await sse_env.serve()
    ends = _ends(delivered)

    got = await follow(
        url, until=ends, params={"from": "earliest", "receiver": "cs-robot", "severity": "critical"}
    )
    assert sorted(_seqs(got.events)) == [0, 3, 4]
    assert {e.event for e in got.events} == {"notification"}
    got = await follow(
        url,
        until=ends,
        params={
            "from": "earliest",
            "receiver": "cs-robot",
            "corp": "wm1",
            "severity": ["critical", "high"],
            "alertname": "FailedLogins",
        },
    )
    assert sorted(_seqs(got.events)) == [0, 5]
    got = await follow(url, until=ends, params={"from": "earliest", "user": "carol@example.com"})
    assert _seqs(got.events) == [3]

    async with httpx.AsyncClient(timeout=10) as http:
        resp = await http.get(
            url, params={"dataset": "exmail.login_log"}, headers={"Authorization": f"Bearer {sse_env.token}"}
        )
    assert resp.status_code == 400
    assert "receiver" in resp.json()["allowed_filters"]
    assert "dataset" not in resp.json()["allowed_filters"]


async def test_resume_after_disconnect_has_no_gap_and_no_duplicate(
    sse_env: Any, builders: Builders, follow: Any
) -> None:
    n = builders["notification"]
    first_batch = await sse_env.produce(NOTIFICATIONS, [n(i) for i in range(20)])
    url = await sse_env.serve()
    clients = REGISTRY.get_sample_value("exmail_sse_clients") or 0.0

    head = await follow(url, count=7, params={"from": "earliest"})
    assert len(head.events) == 7
    second_batch = await sse_env.produce(NOTIFICATIONS, [n(i) for i in range(20, 30)])
    ends = _ends(first_batch + second_batch)

    rest = await follow(
        url, until=ends, headers={"Last-Event-ID": head.events[-1].id}, params={"from": "earliest"}
    )  # the header wins over from=, as on an EventSource reconnect
    seqs = _seqs(head.events) + _seqs(rest.events)
    assert sorted(seqs) == list(range(30)), "every record exactly once across the reconnect"
    assert rest.last_event_id is not None and Position.decode(rest.last_event_id).offsets == ends

    again = await follow(url, until=ends, params={"last_event_id": head.events[-1].id})
    assert (
        sorted(_seqs(again.events))
        == sorted(_seqs(rest.events))
        == sorted(set(range(30)) - set(_seqs(head.events)))
    )

    deadline = time.monotonic() + 10
    while (REGISTRY.get_sample_value("exmail_sse_clients") or 0.0) != clients:
        if time.monotonic() > deadline:
            raise AssertionError("streams (and their consumers) were not closed after the clients left")
        await asyncio.sleep(0.05)


async def test_start_positions_earliest_latest_and_since(
    sse_env: Any, builders: Builders, follow: Any
) -> None:
    n = builders["notification"]
    before = await sse_env.produce(NOTIFICATIONS, [n(i) for i in range(5)])
    await asyncio.sleep(0.05)  # a clear millisecond boundary between the batches' CreateTime
    since = utc_iso(time.time())
    await asyncio.sleep(0.05)
    after = await sse_env.produce(NOTIFICATIONS, [n(i) for i in range(5, 9)])
    url = await sse_env.serve()
    ends = _ends(before + after)

    earliest = await follow(url, until=ends, params={"from": "earliest"})
    assert sorted(_seqs(earliest.events)) == list(range(9))
    from_time = await follow(url, until=ends, params={"since": since})
    assert sorted(_seqs(from_time.events)) == [5, 6, 7, 8]
    assert (await follow(url, until=ends, params={"since": "2999-01-01T00:00:00+08:00"})).events == []

    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", url, headers={"Authorization": f"Bearer {sse_env.token}"}) as response,
    ):  # from=latest
        parser = SseParser()
        lines = response.aiter_lines()
        async for line in lines:
            list(parser.feed(line))
            if line == "" and parser.last_event_id:
                break
        assert parser.last_event_id is not None
        assert Position.decode(parser.last_event_id).offsets == {
            **{("notification", p): 0 for p in range(3)},
            **ends,
        }
        newer = (await sse_env.produce(NOTIFICATIONS, [n(9)]))[0]
        received: list[SseEvent] = []
        async for line in lines:
            received.extend(parser.feed(line))
            if received:
                break
    assert _seqs(received) == [9]
    assert (
        Position.decode(received[0].id or "").offsets[("notification", newer.partition)] == newer.offset + 1
    )


async def test_auth_failures_and_query_token(sse_env: Any, follow: Any) -> None:
    url = await sse_env.serve()
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(url)).status_code == 401
        assert (await http.get(url, headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await http.get(url, params={"access_token": "nope"})).status_code == 401
    with pytest.raises(SseError) as info:
        async with SseClient(url, token="nope") as client:
            async for _ in client:
                pass
    assert info.value.status == 401
    async with (
        httpx.AsyncClient(timeout=10) as http,
        http.stream("GET", url, params={"access_token": sse_env.token}) as response,
    ):
        assert response.status_code == 200


async def test_alerts_and_events_stream_with_their_kinds(
    sse_env: Any, builders: Builders, follow: Any
) -> None:
    alerts = await sse_env.produce(
        "exmail.alerts", [builders["alert"](1), builders["alert"](2, alertname="X")]
    )
    events = await sse_env.produce(
        "exmail.events", [builders["event"](1), builders["event"](2, dataset="exmail.mail_log")]
    )
    url = await sse_env.serve(topics=["exmail.alerts", "exmail.events"])
    ends = {**_ends(alerts, "alert"), **_ends(events, "event")}

    everything = await follow(url, until=ends, params={"from": "earliest"})
    assert sorted(e.event for e in everything.events) == ["alert", "alert", "event", "event"]
    assert {k for k, _ in Position.decode(everything.last_event_id).offsets} == {"alert", "event"}
    logins = await follow(url, until=ends, params={"from": "earliest", "dataset": "exmail.login_log"})
    assert [(e.event, e.json()["data"]["seq"]) for e in logins.events] == [("event", 1)]
    deleted = await follow(url, until=ends, params={"from": "earliest", "alertname": "AdminDeletedUser"})
    assert [(e.event, e.json()["data"]["labels"]["alertname"]) for e in deleted.events] == [
        ("alert", "AdminDeletedUser")
    ]
    both = await follow(url, until=ends, params={"from": "earliest", "user": "bob@example.com"})
    assert len(both.events) == 4


async def test_client_helper_resumes_across_a_server_restart(sse_env: Any, builders: Builders) -> None:
    n = builders["notification"]
    await sse_env.produce(NOTIFICATIONS, [n(i) for i in range(10)])
    url = await sse_env.serve()
    port = int(url.split(":")[2].split("/")[0])
    seen: list[int] = []
    async with SseClient(
        url, token=sse_env.token, params={"from": "earliest"}, reconnect_delay=0.1
    ) as client:
        events = client.events()
        async with asyncio.timeout(20):
            while len(seen) < 4:
                seen.extend(_seqs([await anext(events)]))
            await sse_env.runners.pop().cleanup()  # the worker restarts mid-stream
            await sse_env.produce(NOTIFICATIONS, [n(i) for i in range(10, 15)])
            await sse_env.serve(port=port)
            while len(seen) < 15:
                seen.extend(_seqs([await anext(events)]))
        await events.aclose()
    assert sorted(seen) == list(range(15))
    assert client.connects == 2
