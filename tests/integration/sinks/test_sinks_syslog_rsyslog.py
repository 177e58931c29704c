"""Syslog sink against a real rsyslogd (Debian's rsyslog + rsyslog-gnutls) over TCP and TLS.

rsyslog parses every octet-counted RFC 5424 frame and writes one line of parsed fields per message
(msgid, app-name, hostname, pri, timestamp, structured data, msg), so a framing or parsing error shows up as
a wrong line count or a mangled field.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from pipeline.envelope import Envelope
from pipeline.sinks._batching import BatchConfig, BatchingLoop
from pipeline.sinks.syslog import SyslogSink, SyslogSinkConfig

EventFactory = Callable[..., Envelope]

pytestmark = pytest.mark.integration


def parsed(line: str) -> dict[str, str]:
    msgid, app, host, pri, ts, sd, msg = line.split("\t", 6)
    return {"msgid": msgid, "app": app, "host": host, "pri": pri, "ts": ts, "sd": sd, "msg": msg}


def sd_param(sd: str, name: str) -> str:
    m = re.search(rf'{name}="((?:[^"\\]|\\.)*)"', sd)
    assert m is not None, sd
    return m.group(1)


async def send_all(sink: SyslogSink, events: list[Any]) -> None:
    loop = BatchingLoop.for_sender(sink, BatchConfig(max_records=40, max_age_seconds=60,
                                                     retry_initial_seconds=0.01))
    async with loop:
        for env in events:
            await loop.put(env)
        await loop.flush()
    await sink.close()


async def test_json_over_tcp_one_parsed_line_per_event(rsyslog: Any, audit_event: EventFactory) -> None:
    server = rsyslog(tls=False)
    events = [audit_event(i, user=f"user{i}@example.com", outcome="failure" if i % 5 == 0 else "success",
                          extra={"email": {"subject": f"s\u00fcbject {i} ] \" \\ end"}}) for i in range(100)]
    sink = SyslogSink(SyslogSinkConfig(host="127.0.0.1", port=server.port, transport="tcp", hostname="mx-1"))
    await send_all(sink, events)
    lines = await server.wait_for_lines(100)
    assert len(lines) == 100, server.log.read_text()
    for env, line in zip(events, lines, strict=True):
        f = parsed(line)
        assert (f["msgid"], f["app"], f["host"]) == ("exmail.login_log", "exmail-pipeline", "mx-1")
        assert f["pri"] == str(13 * 8 + (4 if env.data["event"]["outcome"] == "failure" else 6))
        assert f["ts"].startswith("2026-11-05T10:00:00.000")
        assert sd_param(f["sd"], "id") == env.id and sd_param(f["sd"], "corp") == "corp1"
        doc = orjson.loads(f["msg"])
        assert doc["event"]["id"] == env.id and doc["email"]["subject"] == env.data["email"]["subject"]


async def test_cef_over_tls(rsyslog: Any, pki: Any, audit_event: EventFactory) -> None:
    server = rsyslog(tls=True)
    events = [audit_event(i, dataset="exmail.mail_log", action="mail-send",
                          extra={"email": {"subject": f"a=b|c {i}", "to": {"address": ["bob@ext.example"]}}})
              for i in range(50)]
    cfg = SyslogSinkConfig(host="127.0.0.1", port=server.port, transport="tls", format="cef", ca_file=pki.ca,
                           server_name="localhost", hostname="mx-1")
    await send_all(SyslogSink(cfg), events)
    lines = await server.wait_for_lines(50)
    assert len(lines) == 50, server.log.read_text()
    for env, line in zip(events, lines, strict=True):
        f = parsed(line)
        assert f["msgid"] == "exmail.mail_log"
        assert f["msg"].startswith("CEF:0|Tencent|Exmail|")
        assert f"externalId={env.id}" in f["msg"] and "msg=a\\=b|c" in f["msg"]
        assert "duser=bob@ext.example" in f["msg"]


async def test_tls_with_a_client_certificate(rsyslog: Any, pki: Any, audit_event: EventFactory) -> None:
    server = rsyslog(tls=True, auth_mode="x509/certvalid")
    cfg = SyslogSinkConfig(host="127.0.0.1", port=server.port, transport="tls", ca_file=pki.ca,
                           cert_file=pki.client_cert, key_file=pki.client_key, hostname="mx-1")
    events = [audit_event(i) for i in range(20)]
    await send_all(SyslogSink(cfg), events)
    lines = await server.wait_for_lines(20)
    assert [sd_param(parsed(x)["sd"], "id") for x in lines] == [e.id for e in events]


async def test_reconnects_after_the_receiver_restarts(rsyslog: Any, audit_event: EventFactory) -> None:
    first = rsyslog(tls=False)
    sink = SyslogSink(SyslogSinkConfig(host="127.0.0.1", port=first.port, transport="tcp"))
    loop = BatchingLoop.for_sender(sink, BatchConfig(max_age_seconds=60, retry_initial_seconds=0.01,
                                                     retry_max_seconds=0.05))
    async with loop:
        for i in range(10):
            await loop.put(audit_event(i))
        await loop.flush()
        assert len(await first.wait_for_lines(10)) == 10
        first.process.terminate()
        first.process.wait(10)
        second = rsyslog(tls=False)
        sink.config = sink.config.model_copy(update={"port": second.port})
        for i in range(10, 20):
            await loop.put(audit_event(i))
        await loop.flush()
    await sink.close()
    lines = await second.wait_for_lines(10)
    assert [sd_param(parsed(x)["sd"], "id") for x in lines] == [audit_event(i).id for i in range(10, 20)]


async def test_events_wait_while_the_receiver_is_down_and_arrive_when_it_starts(
        rsyslog: Any, audit_event: EventFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    attempts = 0
    failing = asyncio.Event()
    sink = SyslogSink(SyslogSinkConfig(host="127.0.0.1", port=port, transport="tcp"), name="syslog_down")
    real_send = sink.send

    async def counting_send(batch: list[Any]) -> Any:
        nonlocal attempts
        attempts += 1
        if attempts >= 3:
            failing.set()
        return await real_send(batch)

    loop = BatchingLoop("syslog_down", counting_send, BatchConfig(max_age_seconds=60, retry_initial_seconds=0.01,
                                                                  retry_max_seconds=0.05), size_of=sink.size_of)
    async with loop:
        for i in range(5):
            await loop.put(audit_event(i))
        flushed = asyncio.create_task(loop.flush())
        await asyncio.wait_for(failing.wait(), 30)
        assert not flushed.done()
        server = rsyslog(tls=False, port=port)
        await asyncio.wait_for(flushed, 30)
    await sink.close()
    lines = await server.wait_for_lines(5)
    assert [sd_param(parsed(x)["sd"], "id") for x in lines] == [audit_event(i).id for i in range(5)]
