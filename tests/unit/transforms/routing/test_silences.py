"""Silences (Alertmanager docs/alertmanager.md §Silences, docs/high_availability.md for the replicated state):
store semantics, persistence from a change log, muting in the Dispatcher, the HTTP API and the CLI."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from pipeline.auth import MemoryOperatorLog
from pipeline.transforms.routing import (
    Dispatcher,
    RoutingConfig,
    SilenceChange,
    SilenceError,
    SilenceNotFound,
    SilenceStore,
    create_silences_app,
)
from pipeline.transforms.routing.cli import silence as silence_cli
from pipeline.transforms.rules import Alert

T0 = 1_800_000_000.0
FAR = T0 + 100 * 3600
Routing = Callable[..., RoutingConfig]
MakeAlert = Callable[..., Alert]
Factory = Callable[..., Dispatcher]


def store(**kw: Any) -> SilenceStore:
    ids = iter(f"s{i}" for i in range(1000))
    return SilenceStore(clock=lambda: T0, id_factory=lambda: next(ids), **kw)


def spec(**kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"matchers": ['alertname="login_new_ip"', 'user=~".*@acme.com"'], "ends_at": T0 + 3600,
                           "created_by": "ops", "comment": "travel week"}
    out.update(kw)
    return out


# --- store


def test_silence_states_and_matching() -> None:
    """A silence mutes alerts matching every matcher while now is in [starts_at, ends_at)."""
    s = store()
    sil, changes = s.set(spec(starts_at=T0 + 60))
    assert [c.id for c in changes] == [sil.id]
    assert sil.state(T0) == "pending"
    assert s.mutes({"alertname": "login_new_ip", "user": "a@acme.com"}, T0) is None
    assert s.mutes({"alertname": "login_new_ip", "user": "a@acme.com"}, T0 + 60) == sil.id
    assert s.mutes({"alertname": "login_new_ip", "user": "a@other.com"}, T0 + 60) is None
    assert s.mutes({"alertname": "other", "user": "a@acme.com"}, T0 + 60) is None
    assert s.mutes({"alertname": "login_new_ip", "user": "a@acme.com"}, T0 + 3600) is None
    assert sil.state(T0 + 3600) == "expired"


@pytest.mark.parametrize(("bad", "message"), [
    ({"matchers": []}, "at least one matcher"),
    ({"matchers": ['a=~".*"', 'b=""']}, "must not match the empty string"),
    ({"matchers": ['a=~"("']}, "does not compile"),
    ({"ends_at": T0 - 1}, "in the future"),
    ({"ends_at": None}, "ends_at or duration is required"),
    ({"starts_at": T0 + 7200}, "after starts_at"),
    ({"created_by": " "}, "created_by is required"),
    ({"comment": ""}, "comment is required"),
    ({"ends_at": "tomorrow"}, "RFC 3339"),
    ({"ends_at": None, "duration": "soon"}, "duration"),
])
def test_silence_validation(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(SilenceError, match=message):
        store().set(spec(**bad))


def test_start_in_the_past_becomes_now_and_duration() -> None:
    sil, _ = store().set(spec(starts_at="2020-01-01T00:00:00Z", ends_at=None, duration="2h"))
    assert sil.starts_at == T0 and sil.ends_at == T0 + 7200


def test_expire_active_and_pending() -> None:
    """docs/high_availability.md: deleting a silence means expiring it immediately."""
    s = store()
    active, _ = s.set(spec())
    pending, _ = s.set(spec(starts_at=T0 + 600))
    expired, changes = s.expire(active.id, T0 + 10)
    assert expired.ends_at == T0 + 10 and expired.starts_at == T0 and len(changes) == 1
    expired_pending, _ = s.expire(pending.id, T0 + 10)
    assert expired_pending.starts_at == expired_pending.ends_at == T0 + 10
    assert s.expire(active.id, T0 + 20) == (expired, []), "expiring twice changes nothing"
    with pytest.raises(SilenceNotFound):
        s.expire("nope")


def test_expiry_is_not_after_the_clock_that_made_it() -> None:
    clock = [T0 + 0.0006]
    s = SilenceStore(clock=lambda: clock[0])
    sil, _ = s.set(spec(ends_at=None, duration="1h"))
    assert sil.state(clock[0]) == "active"
    clock[0] = T0 + 10.0009
    expired, _ = s.expire(sil.id)
    assert expired.state(clock[0]) == "expired"
    assert expired.ends_at == T0 + 10.0


def test_update_in_place_or_replace() -> None:
    s = store()
    sil, _ = s.set(spec())
    longer, changes = s.set(spec(id=sil.id, ends_at=T0 + 7200, comment="longer"), T0 + 5)
    assert longer.id == sil.id and longer.ends_at == T0 + 7200 and len(changes) == 1
    other, changes = s.set(spec(id=sil.id, matchers=['alertname="x"']), T0 + 6)
    assert other.id != sil.id
    assert [c.id for c in changes] == [sil.id, other.id], "old one expired, new one created"
    assert s.get(sil.id).state(T0 + 6) == "expired"


def test_list_order_and_state_filter() -> None:
    s = store()
    a, _ = s.set(spec(ends_at=T0 + 7200))
    b, _ = s.set(spec(ends_at=T0 + 3600))
    c, _ = s.set(spec(starts_at=T0 + 100))
    d, _ = s.set(spec())
    s.expire(d.id)
    assert [x.id for x in s.list(T0)] == [b.id, a.id, c.id, d.id]
    assert [x.id for x in s.list(T0, "pending")] == [c.id]


def test_gc_keeps_expired_for_retention_then_tombstones() -> None:
    s = store(retention=3600)
    sil, _ = s.set(spec(ends_at=T0 + 60))
    assert s.gc(T0 + 60 + 3599) == [] and len(s) == 1
    assert s.gc(T0 + 60 + 3600) == [SilenceChange(sil.id, None)]
    assert len(s) == 0


def test_rebuild_from_change_log_and_snapshot() -> None:
    """State is rebuilt from the log of changes (compacted topic: key = id, value = silence or null)."""
    s = store(retention=60)
    log: list[SilenceChange] = []
    a, ch = s.set(spec())
    log += ch
    b, ch = s.set(spec(matchers=['alertname="x"'], ends_at=T0 + 10))
    log += ch
    log += s.set(spec(id=a.id, ends_at=T0 + 9000), T0 + 1)[1]
    log += s.expire(b.id, T0 + 2)[1]
    log += s.gc(T0 + 1000)
    replica = SilenceStore()
    for change in log:
        replica.apply(SilenceChange.from_record(change.key(), change.value()))
    assert replica.snapshot() == s.snapshot()
    assert [x["id"] for x in replica.snapshot()] == [a.id]
    decoded = SilenceStore()  # the worker rebuilds from read_compacted, whose values are already decoded JSON
    for change in log:
        value = change.value()
        decoded.apply(SilenceChange.from_record(change.key(), None if value is None else orjson.loads(value)))
    assert decoded.snapshot() == s.snapshot()
    reloaded = SilenceStore()
    reloaded.load(s.snapshot())
    assert reloaded.get(a.id) == s.get(a.id)


def test_apply_is_last_write_wins() -> None:
    s = store()
    sil, [first] = s.set(spec())
    _, [second] = s.set(spec(id=sil.id, ends_at=T0 + 9000), T0 + 5)
    replica = SilenceStore()
    assert replica.apply(second) is True
    assert replica.apply(first) is False, "an older update never wins"
    assert replica.get(sil.id).ends_at == T0 + 9000
    assert replica.apply({"id": sil.id, "silence": None}) is True
    with pytest.raises(SilenceError, match="does not match"):
        replica.apply(SilenceChange("other", first.silence))


def test_max_silences() -> None:
    s = store(max_silences=1)
    s.set(spec())
    with pytest.raises(SilenceError, match="too many"):
        s.set(spec())


# --- muting in the Dispatcher


def test_silenced_alert_is_not_notified_until_the_silence_ends(routing: Routing, make_alert: MakeAlert,
                                                              dispatcher_factory: Factory) -> None:
    s = store()
    sil, _ = s.set(spec(matchers=['user="u1"']))
    d = dispatcher_factory(routing(route={"group_wait": "0s", "group_by": ["alertname", "user"]}), silences=s)
    assert d.ingest(make_alert("A", user="u1", ends_at=FAR), T0) == []
    assert len(d.ingest(make_alert("A", user="u2", ends_at=FAR), T0)) == 1
    s.expire(sil.id, T0 + 100)
    [n] = d.tick(T0 + 300)
    assert n.reason == "first notification" and n.alerts[0].labels["user"] == "u1"


def test_silence_created_after_notification_stops_repeats(routing: Routing, make_alert: MakeAlert,
                                                          dispatcher_factory: Factory) -> None:
    s = store()
    d = dispatcher_factory(routing(route={"group_wait": "0s", "repeat_interval": "10m"}), silences=s)
    assert len(d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)) == 1
    s.set(spec(matchers=['alertname="A"'], ends_at=FAR))
    assert d.tick(T0 + 300) == [] and d.tick(T0 + 900) == [] and d.tick(T0 + 1500) == []


# --- HTTP API


async def test_http_api_create_list_get_expire(api_tokens: Any) -> None:
    s = store()
    published: list[SilenceChange] = []
    audit = MemoryOperatorLog()

    async def publish(changes: Sequence[SilenceChange]) -> None:
        published.extend(changes)

    parent = web.Application()
    parent.add_subapp("/alerting", create_silences_app(s, publish, audit))
    op = api_tokens.headers("operator")
    async with TestClient(TestServer(api_tokens.secure(parent)), headers=op) as client:
        resp = await client.post("/alerting/api/silences", json={
            "matchers": ['alertname="login_new_ip"', {"name": "user", "value": "a@acme.com", "isRegex": False,
                                                      "isEqual": True}],
            "duration": "2h", "created_by": "ops", "comment": "known travel"})
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        sid = body["silence_id"]
        assert body["silence"]["status"] == {"state": "active"}
        assert [c.id for c in published] == [sid], "the change is published before the answer"
        assert s.get(sid).created_by == "operator-user", "the principal, not the body's created_by"

        listed = await (await client.get("/alerting/api/silences?state=active")).json()
        assert [x["id"] for x in listed] == [sid]
        assert listed[0]["matchers"][1] == {"name": "user", "value": "a@acme.com", "isRegex": False, "isEqual": True}
        assert (await client.get("/alerting/api/silences/" + sid)).status == 200

        resp = await client.delete("/alerting/api/silences/" + sid)
        assert await resp.json() == {"silence_id": sid, "state": "expired"}
        assert len(published) == 2
        assert await (await client.get("/alerting/api/silences?state=active")).json() == []
        assert [(e.data["event"]["action"], e.data["user"]["name"], e.data["target"]["id"]) for e in audit.events] \
            == [("silence.created", "operator-user", sid), ("silence.expired", "operator-user", sid)]

        cases: list[tuple[str, str, Any, int, str]] = [
            ("post", "/alerting/api/silences", {"matchers": []}, 400, "matcher"),
            ("post", "/alerting/api/silences", [1], 400, "JSON object"),
            ("post", "/alerting/api/silences", spec(id="missing"), 404, "missing"),
            ("get", "/alerting/api/silences/missing", None, 404, "missing"),
            ("delete", "/alerting/api/silences/missing", None, 404, "missing"),
            ("get", "/alerting/api/silences?state=bogus", None, 400, "state"),
        ]
        for method, path, payload, status, message in cases:
            resp = await getattr(client, method)(path, json=payload) if payload is not None else \
                await getattr(client, method)(path)
            assert resp.status == status, (method, path)
            assert message in (await resp.json())["error"]
        resp = await client.post("/alerting/api/silences", data=b"{not json")
        assert resp.status == 400
        viewer = api_tokens.headers("viewer")
        assert (await client.post("/alerting/api/silences", json=spec(), headers=viewer)).status == 403
        assert (await client.get("/alerting/api/silences", headers=viewer)).status == 200
        assert len(published) == 2 and len(audit.events) == 2


async def test_a_failed_publish_leaves_no_silence(api_tokens: Any) -> None:
    """The store changes only after the write is durable: a refused write answers 503 and mutes nothing."""
    s = store()
    fail = {"on": True}
    audit = MemoryOperatorLog()

    async def publish(changes: Sequence[SilenceChange]) -> None:
        if fail["on"]:
            raise RuntimeError("broker down")

    parent = web.Application()
    parent.add_subapp("/alerting", create_silences_app(s, publish, audit))
    async with TestClient(TestServer(api_tokens.secure(parent)), headers=api_tokens.headers("operator")) as client:
        resp = await client.post("/alerting/api/silences", json=spec())
        assert resp.status == 503 and "nothing changed" in (await resp.json())["error"]
        assert len(s) == 0 and s.mutes({"alertname": "login_new_ip"}, s.clock()) is None
        assert audit.events == []
        fail["on"] = False
        sid = (await (await client.post("/alerting/api/silences", json=spec())).json())["silence_id"]
        fail["on"] = True
        resp = await client.delete("/alerting/api/silences/" + sid)
        assert resp.status == 503
        assert s.get(sid).state(s.clock()) == "active", "a failed expire leaves the silence as it was"


# --- CLI against a real HTTP server


@pytest.fixture
def silences_server(api_tokens: Any) -> Iterator[tuple[str, SilenceStore, Any]]:
    s = SilenceStore()
    loop = asyncio.new_event_loop()
    tokens = api_tokens
    parent = web.Application()
    parent.add_subapp("/alerting", create_silences_app(s))
    runner = web.AppRunner(tokens.secure(parent))
    ready = threading.Event()
    port: list[int] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield f"http://127.0.0.1:{port[0]}/alerting", s, tokens
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def test_cli_add_list_expire(silences_server: tuple[str, SilenceStore, Any]) -> None:
    url, s, tokens = silences_server
    cli = CliRunner(env={"EXMAIL_API_TOKEN": tokens.tokens["operator"]})
    anonymous = CliRunner(env={"EXMAIL_API_TOKEN": ""}).invoke(
        silence_cli, ["add", 'alertname="x"', "-c", "travel", "--url", url])
    assert anonymous.exit_code != 0 and "HTTP 401" in anonymous.output and len(s) == 0
    result = cli.invoke(silence_cli, ["add", 'alertname="login_new_ip"', "user=~.*@acme.com", "-c", "travel",
                                      "-d", "2h", "--url", url])
    assert result.exit_code == 0, result.output
    sid = result.output.strip()
    assert s.get(sid).created_by == "operator-user"
    result = cli.invoke(silence_cli, ["list", "--url", url])
    assert result.exit_code == 0 and sid in result.output and 'user=~".*@acme.com"' in result.output
    result = cli.invoke(silence_cli, ["expire", sid, "--url", url])
    assert result.exit_code == 0 and f"{sid} expired" in result.output
    result = cli.invoke(silence_cli, ["list", "--url", url])
    assert "no silences" in result.output
    result = cli.invoke(silence_cli, ["list", "--state", "all", "--json", "--url", url])
    assert sid in result.output
    result = cli.invoke(silence_cli, ["add", 'a=~".*"', "-c", "x", "--url", url])
    assert result.exit_code != 0 and "HTTP 400" in result.output and "empty string" in result.output
    result = cli.invoke(silence_cli, ["expire", "nope", "--url", url])
    assert result.exit_code != 0 and "HTTP 404" in result.output


def test_cli_unreachable_server() -> None:
    result = CliRunner().invoke(silence_cli, ["list", "--url", "http://127.0.0.1:9"])
    assert result.exit_code != 0 and "cannot reach" in result.output
