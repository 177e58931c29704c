"""Syslog records: RFC 5424 header and structured data, octet framing, the ECS JSON and CEF payloads."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import orjson

from pipeline.envelope import Envelope
from pipeline.sinks.syslog import SyslogSink, SyslogSinkConfig, cef, octet_frame, rfc5424
from pipeline.sinks.syslog.format import cef_header_escape, cef_value_escape, header_field, sd_escape

# RFC 5424 §6 in one regex: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG


RFC5424 = re.compile(
    rb'^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>[!-~]{1,255}) (?P<app>[!-~]{1,48}) (?P<procid>[!-~]{1,128}) '
    rb'(?P<msgid>[!-~]{1,32}) (?P<sd>\[(?:[^\]\\]|\\.)*\]) (?P<msg>.*)$', re.S)


EventFactory = Callable[..., Envelope]


def message(env: Envelope, **overrides: Any) -> bytes:
    args = {"facility": 13, "hostname": "mx-1", "app_name": "exmail-pipeline", "sd_id": "exmail@32473",
            "body": "hello", "max_bytes": 8192, "procid": "4242"}
    return rfc5424(env, **{**args, **overrides})


def test_rfc5424_header_and_structured_data(audit_event: EventFactory) -> None:
    env = audit_event(1, outcome="failure")
    m = RFC5424.match(message(env))
    assert m is not None
    assert int(m["pri"]) == 13 * 8 + 4  # log audit, warning for a failed outcome
    assert m["ts"] == b"2026-11-05T10:00:00.000Z"
    assert (m["host"], m["app"], m["procid"], m["msgid"]) == (b"mx-1", b"exmail-pipeline", b"4242",
                                                            b"exmail.login_log")
    assert m["sd"] == f'[exmail@32473 id="{env.id}" corp="corp1" schema="exmail.event/1"]'.encode()
    assert m["msg"] == b"hello"
    info = RFC5424.match(message(audit_event(2)))
    assert info is not None and int(info["pri"]) == 13 * 8 + 6


def test_header_fields_are_printable_ascii_within_rfc_lengths() -> None:
    assert header_field("h\u00f6st name", 255) == "hstname"
    assert header_field("x" * 40, 32) == "x" * 32
    assert header_field("", 32) == "-" and header_field("\u6d4b\u8bd5", 32) == "-"


def test_sd_values_escape_quote_backslash_and_bracket(audit_event: EventFactory) -> None:
    assert sd_escape('a"b\\c]d') == 'a\\"b\\\\c\\]d'
    env = audit_event(1, corp='we"ird]corp\\')
    m = RFC5424.match(message(env))
    assert m is not None and b'corp="we\\"ird\\]corp\\\\"' in m["sd"]


def test_long_messages_are_truncated_at_a_utf8_boundary_and_flagged(audit_event: EventFactory) -> None:
    body = "\u4e2d" * 5000  # 15000 bytes
    msg = message(audit_event(1), body=body, max_bytes=2048)
    assert len(msg) <= 2048
    m = RFC5424.match(msg)
    assert m is not None and b'truncated="1"' in m["sd"]
    m["msg"].decode("utf-8")  # still valid UTF-8


def test_octet_counting_frame() -> None:
    payload = "<110>1 - - - - - - caf\u00e9".encode()
    assert octet_frame(payload) == str(len(payload)).encode() + b" " + payload
    assert octet_frame(b"") == b"0 "


def test_json_body_is_the_ecs_document_with_the_event_id(audit_event: EventFactory) -> None:
    env = audit_event(3)
    sink = SyslogSink(SyslogSinkConfig(host="127.0.0.1", transport="tcp", hostname="mx"))
    m = RFC5424.match(sink.message(env))
    assert m is not None
    doc = orjson.loads(m["msg"])
    assert doc["event"]["id"] == env.id and doc["user"]["email"] == "alice@example.com"


def test_cef_header_and_extension_escaping() -> None:
    assert cef_header_escape("a|b\\c\nd") == "a\\|b\\\\c d"
    assert cef_value_escape("x=1\\y\r\nz|w") == "x\\=1\\\\y\\nz|w"


def test_cef_record_fields(audit_event: EventFactory) -> None:
    env = audit_event(4, dataset="exmail.mail_log", action="mail-send", outcome="failure", ip="2001:db8::5",
                      extra={"email": {"subject": "a=b | c\nd", "to": {"address": ["bob@ext.example"]},
                                       "from": {"address": ["alice@example.com"]}}})
    text = cef(env, vendor="Tencent", product="Ex|mail", version="0.1.0")
    parts = re.split(r"(?<!\\)\|", text, maxsplit=7)
    assert parts[:7] == ["CEF:0", "Tencent", "Ex\\|mail", "0.1.0", "exmail.mail_log:mail-send", "mail-send", "6"]
    pairs = dict(re.findall(r"(\w+)=((?:[^=\\]|\\.)*?)(?= \w+=|$)", parts[7]))
    assert pairs["externalId"] == env.id
    assert pairs["rt"] == "1793872800000"
    assert pairs["cat"] == "exmail.mail_log" and pairs["act"] == "mail-send" and pairs["outcome"] == "failure"
    assert pairs["suser"] == "alice@example.com" and pairs["duser"] == "bob@ext.example"
    assert pairs["c6a2"] == "2001:db8::5" and "src" not in pairs
    assert pairs["msg"] == "a\\=b | c\\nd"
    assert pairs["cs1"] == "corp1" and pairs["cs1Label"] == "corp"
    assert "src=10.0.0.1" in cef(audit_event(5), vendor="V", product="P", version="1")
