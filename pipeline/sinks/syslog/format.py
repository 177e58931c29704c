"""RFC 5424 messages, octet-counted framing and CEF payloads for the syslog sink.

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [exmail@32473 id="..." corp="..." schema="..."] MSG

MSGID is the event dataset (e.g. exmail.mail_log); MSG is the ECS document as JSON, or a CEF record.
Header fields are cut to the RFC's lengths and printable US-ASCII; SD values escape `"`, `\\` and `]`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from typing import Any

import orjson

from pipeline.envelope import Envelope, parse_iso, utc_iso

NILVALUE = "-"
SEVERITY_WARNING = 4
SEVERITY_INFO = 6
_NOT_PRINTUSASCII = re.compile(r"[^!-~]")
_CEF_EXT_ESCAPE = {"\\": "\\\\", "=": "\\=", "\r\n": "\\n", "\n": "\\n", "\r": "\\r"}
_CEF_EXT_RE = re.compile(r"\r\n|[\\=\n\r]")
_CEF_HDR_RE = re.compile(r"[\\|]")


def _path(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _first_str(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v), None)
    return value if isinstance(value, str) and value else None


def header_field(value: str | None, max_len: int) -> str:
    """A HOSTNAME/APP-NAME/PROCID/MSGID value: printable US-ASCII only, at most `max_len`, or NILVALUE."""
    if not value:
        return NILVALUE
    cleaned = _NOT_PRINTUSASCII.sub("", value)[:max_len]
    return cleaned or NILVALUE


def sd_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(sd_id: str, params: list[tuple[str, str]]) -> str:
    return "[" + sd_id + "".join(f' {name}="{sd_escape(value)}"' for name, value in params) + "]"


def severity_of(envelope: Envelope) -> int:
    return SEVERITY_WARNING if _path(envelope.data, "event", "outcome") == "failure" else SEVERITY_INFO


def timestamp_of(envelope: Envelope) -> str:
    try:
        return utc_iso(parse_iso(envelope.occurred_at))
    except ValueError:
        return NILVALUE


def ecs_document(envelope: Envelope) -> dict[str, Any]:
    doc = dict(envelope.data)
    doc.setdefault("@timestamp", envelope.occurred_at)
    event = doc.get("event")
    if event is None or isinstance(event, dict):
        doc["event"] = {**(event or {}), "id": (event or {}).get("id", envelope.id)}
    return doc


def cef_header_escape(value: str) -> str:
    return _CEF_HDR_RE.sub(lambda m: "\\" + m.group(0), value).replace("\r", " ").replace("\n", " ")


def cef_value_escape(value: str) -> str:
    return _CEF_EXT_RE.sub(lambda m: _CEF_EXT_ESCAPE[m.group(0)], value)


def cef(envelope: Envelope, *, vendor: str, product: str, version: str) -> str:
    """CEF:0|vendor|product|version|signature|name|severity|extension, from the ECS fields present."""
    data = envelope.data
    dataset = _first_str(_path(data, "event", "dataset")) or envelope.schema_name
    action = _first_str(_path(data, "event", "action"))
    outcome = _first_str(_path(data, "event", "outcome"))
    sev_field = _path(data, "event", "severity")
    severity = (sev_field if isinstance(sev_field, int) and not isinstance(sev_field, bool) and 0 <= sev_field <= 10
                else 6 if outcome == "failure" else 3)
    ext: list[tuple[str, str]] = []
    try:
        ext.append(("rt", str(int(parse_iso(envelope.occurred_at).timestamp() * 1000))))
    except ValueError:
        pass
    ext += [("externalId", envelope.id), ("cat", dataset)]
    if action:
        ext.append(("act", action))
    if outcome:
        ext.append(("outcome", outcome))
    user = _first_str(_path(data, "user", "email")) or _first_str(_path(data, "user", "name"))
    if user:
        ext.append(("suser", user))
    to = _first_str(_path(data, "email", "to", "address"))
    if to:
        ext.append(("duser", to))
    ip = _first_str(_path(data, "source", "ip"))
    if ip:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            addr = None
        if isinstance(addr, ipaddress.IPv4Address):
            ext.append(("src", str(addr)))
        elif addr is not None:
            ext += [("c6a2", str(addr)), ("c6a2Label", "Source IPv6 Address")]
    sender = _first_str(_path(data, "email", "from", "address"))
    if sender:
        ext += [("cs2", sender), ("cs2Label", "sender")]
    subject = _first_str(_path(data, "email", "subject"))
    if subject:
        ext.append(("msg", subject))
    ext += [("cs1", envelope.corp_id), ("cs1Label", "corp")]
    signature = f"{dataset}:{action}" if action else dataset
    head = "|".join(cef_header_escape(v) for v in (vendor, product, version, signature, action or dataset))
    return f"CEF:0|{head}|{severity}|" + " ".join(f"{k}={cef_value_escape(v)}" for k, v in ext)


def rfc5424(envelope: Envelope, *, facility: int, hostname: str, app_name: str, sd_id: str, body: str,
            max_bytes: int, procid: str | None = None) -> bytes:
    """One SYSLOG-MSG; when longer than `max_bytes` the MSG is cut (at a UTF-8 boundary) and SD says so."""
    dataset = _first_str(_path(envelope.data, "event", "dataset"))
    pri = facility * 8 + severity_of(envelope)
    head = " ".join((f"<{pri}>1", timestamp_of(envelope), header_field(hostname, 255), header_field(app_name, 48),
                     header_field(procid or str(os.getpid()), 128), header_field(dataset, 32)))
    params = [("id", envelope.id), ("corp", envelope.corp_id), ("schema", envelope.schema)]
    msg = body.encode()
    prefix = f"{head} {structured_data(sd_id, params)} ".encode()
    if len(prefix) + len(msg) <= max_bytes:
        return prefix + msg
    prefix = f"{head} {structured_data(sd_id, [*params, ('truncated', '1')])} ".encode()
    room = max(0, max_bytes - len(prefix))
    return prefix + msg[:room].decode("utf-8", errors="ignore").encode()


def octet_frame(message: bytes) -> bytes:
    """RFC 5425 / RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG."""
    return str(len(message)).encode() + b" " + message


def json_body(envelope: Envelope) -> str:
    return orjson.dumps(ecs_document(envelope)).decode()
