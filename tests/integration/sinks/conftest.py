"""Peers for the audit and SIEM sink integration tests.

- a unique PostgreSQL schema per test module on the real server (`postgres_dsn`);
- protocol-exact local receivers served over TCP by aiohttp: Elasticsearch `_bulk` (NDJSON, per-item
  `create` semantics: 201, or 409 version_conflict_engine_exception when the _id exists, `errors: true`) and
  Splunk HEC (`/services/collector/event` with `Authorization: Splunk <token>`, HEC codes, indexer
  acknowledgement on `X-Splunk-Request-Channel` with `/services/collector/ack`);
- a private rsyslogd (Debian's rsyslog + rsyslog-gnutls) listening on TCP or TLS, writing one parsed line
  per message;
- a throwaway CA with server and client certificates.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pipeline.envelope import Envelope, fingerprint

# ---------------------------------------------------------------- events


def build_event(
    i: int = 0, *, corp: str = "corp1", dataset: str = "exmail.login_log", action: str | None = "login",
    user: str | None = "alice@example.com", ip: str | None = "10.0.0.1", outcome: str | None = "success",
    occurred: str = "2026-11-05T10:00:00.000Z", extra: dict[str, Any] | None = None,
) -> Envelope:
    event: dict[str, Any] = {"kind": "event", "dataset": dataset, "category": ["authentication"], "type": ["start"]}
    if action is not None:
        event["action"] = action
    if outcome is not None:
        event["outcome"] = outcome
    data: dict[str, Any] = {"@timestamp": occurred, "event": event, "ocsf": {"class_uid": 3002, "activity_id": 1}}
    if user is not None:
        data["user"] = {"email": user, "name": user.split("@")[0]}
    if ip is not None:
        data["source"] = {"ip": ip}
    data.update(extra or {})
    return Envelope(schema="exmail.event/1", id=fingerprint("test-event", corp, i, occurred, dataset), corp_id=corp,
                    source="normalize", occurred_at=occurred, observed_at="2026-11-05T10:00:05.000Z", data=data)


@pytest.fixture
def audit_event() -> Callable[..., Envelope]:
    return build_event


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="module")
def pg_schema(postgres_dsn: str) -> Iterator[str]:
    """A schema of its own for this test module, dropped afterwards."""
    name = f"t_audit_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


# ---------------------------------------------------------------- HTTP receivers


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@dataclass
class FakeElasticsearch:
    """Enough of Elasticsearch's `_bulk` to tell a correct client from an incorrect one."""

    api_key: str
    url: str = ""
    docs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    requests: list[list[str]] = field(default_factory=list)  # _ids per bulk request
    transient_item_failures: dict[str, int] = field(default_factory=dict)  # _id -> remaining 429s
    request_failures: list[int] = field(default_factory=list)  # statuses for the next whole requests
    max_content_length: int | None = None

    @staticmethod
    def _error(status: int, etype: str, reason: str) -> web.Response:
        return web.json_response({"error": {"type": etype, "reason": reason}, "status": status}, status=status)

    async def bulk(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"ApiKey {self.api_key}":
            return self._error(401, "security_exception", "missing authentication credentials")
        if self.request_failures:
            status = self.request_failures.pop(0)
            return self._error(status, "es_rejected_execution_exception", "rejected execution")
        if request.content_type not in ("application/x-ndjson", "application/json"):
            return self._error(406, "media_type", f"Content-Type {request.content_type} is not supported")
        raw = await request.read()
        if self.max_content_length is not None and len(raw) > self.max_content_length:
            return web.Response(status=413, text="Request Entity Too Large")
        if not raw.endswith(b"\n"):
            return self._error(400, "illegal_argument_exception", "The bulk request must be terminated by a newline")
        lines = raw.split(b"\n")[:-1]
        items: list[dict[str, Any]] = []
        ids: list[str] = []
        i = 0
        while i < len(lines):
            action = json.loads(lines[i])
            if len(action) != 1:
                return self._error(400, "illegal_argument_exception", "Malformed action/metadata line")
            (op, meta), = action.items()
            if op != "create":
                return self._error(400, "illegal_argument_exception", f"test receiver expects create, got {op}")
            source = json.loads(lines[i + 1])
            i += 2
            index, doc_id = str(meta.get("_index") or request.match_info.get("index")), str(meta["_id"])
            ids.append(doc_id)
            if self.transient_item_failures.get(doc_id, 0) > 0:
                self.transient_item_failures[doc_id] -= 1
                items.append({op: {"_index": index, "_id": doc_id, "status": 429, "error": {
                    "type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating"}}})
            elif not isinstance(source.get("event", {}).get("outcome", ""), str):
                items.append({op: {"_index": index, "_id": doc_id, "status": 400, "error": {
                    "type": "document_parsing_exception",
                    "reason": "[1:80] failed to parse field [event.outcome] of type [keyword]"}}})
            elif (index, doc_id) in self.docs:
                items.append({op: {"_index": index, "_id": doc_id, "status": 409, "error": {
                    "type": "version_conflict_engine_exception",
                    "reason": f"[{doc_id}]: version conflict, document already exists (current version [1])"}}})
            else:
                self.docs[(index, doc_id)] = source
                items.append({op: {"_index": index, "_id": doc_id, "_version": 1, "result": "created",
                                   "status": 201, "_seq_no": len(self.docs), "_primary_term": 1}})
        self.requests.append(ids)
        errors = any(next(iter(it.values()))["status"] >= 300 for it in items)
        return web.json_response({"took": 1, "errors": errors, "items": items})


@pytest.fixture
async def fake_es() -> AsyncIterator[FakeElasticsearch]:
    es = FakeElasticsearch(api_key="VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==")
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/_bulk", es.bulk)
    app.router.add_post("/{index}/_bulk", es.bulk)
    runner, es.url = await _serve(app)
    yield es
    await runner.cleanup()


@dataclass
class FakeSplunkHec:
    """HEC event endpoint with token check, HEC status codes and indexer acknowledgement."""

    token: str
    url: str = ""
    ack_enabled: bool = False
    polls_until_indexed: int = 1
    never_index: bool = False
    busy_responses: int = 0
    allowed_indexes: frozenset[str] = frozenset({"main", "exmail"})
    events: list[dict[str, Any]] = field(default_factory=list)
    channels: set[str] = field(default_factory=set)
    _pending: dict[tuple[str, int], int] = field(default_factory=dict)  # (channel, ackId) -> polls seen
    _next_ack: dict[str, int] = field(default_factory=dict)

    def _auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization")
        if header is None:
            return web.json_response({"text": "Token is required", "code": 2}, status=401)
        if not header.startswith("Splunk "):
            return web.json_response({"text": "Invalid authorization", "code": 3}, status=401)
        if header[len("Splunk "):] != self.token:
            return web.json_response({"text": "Invalid token", "code": 4}, status=403)
        return None

    async def event(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        if self.busy_responses:
            self.busy_responses -= 1
            return web.json_response({"text": "Server is busy", "code": 9}, status=503)
        channel = request.headers.get("X-Splunk-Request-Channel") or request.query.get("channel")
        if self.ack_enabled and not channel:
            return web.json_response({"text": "Data channel is missing", "code": 10}, status=400)
        text = (await request.read()).decode()
        if not text.strip():
            return web.json_response({"text": "No data", "code": 5}, status=400)
        decoder, pos, n = json.JSONDecoder(), 0, 0
        parsed: list[dict[str, Any]] = []
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except json.JSONDecodeError:
                self.events.extend(parsed)
                return web.json_response({"text": "Invalid data format", "code": 6, "invalid-event-number": n},
                                         status=400)
            if "event" not in obj:
                self.events.extend(parsed)
                return web.json_response({"text": "Event field is required", "code": 12,
                                          "invalid-event-number": n}, status=400)
            if obj["event"] in ("", None, {}) or (isinstance(obj["event"], dict) and obj["event"].get("poison")):
                self.events.extend(parsed)
                return web.json_response({"text": "Event field cannot be blank", "code": 13,
                                          "invalid-event-number": n}, status=400)
            if "index" in obj and obj["index"] not in self.allowed_indexes:
                self.events.extend(parsed)
                return web.json_response({"text": "Incorrect index", "code": 7, "invalid-event-number": n},
                                         status=400)
            parsed.append(obj)
            n += 1
        self.events.extend(parsed)
        if not self.ack_enabled:
            return web.json_response({"text": "Success", "code": 0})
        assert channel is not None
        self.channels.add(channel)
        ack_id = self._next_ack.get(channel, 0)
        self._next_ack[channel] = ack_id + 1
        self._pending[(channel, ack_id)] = 0
        return web.json_response({"text": "Success", "code": 0, "ackId": ack_id})

    async def ack(self, request: web.Request) -> web.Response:
        if (denied := self._auth(request)) is not None:
            return denied
        if not self.ack_enabled:
            return web.json_response({"text": "ACK is disabled", "code": 14}, status=400)
        channel = request.headers.get("X-Splunk-Request-Channel") or request.query.get("channel")
        if not channel:
            return web.json_response({"text": "Data channel is missing", "code": 10}, status=400)
        if channel not in self.channels:
            return web.json_response({"text": "Invalid data channel", "code": 11}, status=400)
        body = json.loads(await request.read())
        out = {}
        for ack_id in body["acks"]:
            key = (channel, int(ack_id))
            if key in self._pending:
                self._pending[key] += 1
                out[str(ack_id)] = not self.never_index and self._pending[key] >= self.polls_until_indexed
            else:
                out[str(ack_id)] = False
        return web.json_response({"acks": out})


@pytest.fixture
async def fake_hec() -> AsyncIterator[FakeSplunkHec]:
    hec = FakeSplunkHec(token="9d4e8c1a-2f3b-4c5d-8e6f-7a8b9c0d1e2f")
    app = web.Application()
    app.router.add_post("/services/collector/event", hec.event)
    app.router.add_post("/services/collector/ack", hec.ack)
    runner, hec.url = await _serve(app)
    yield hec
    await runner.cleanup()


# ---------------------------------------------------------------- TLS material


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, issuer_key: ec.EllipticCurvePrivateKey,
           *, ca: bool, server: bool = False, client: bool = False) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                        critical=False)
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=False, crl_sign=False, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=True, encipher_only=False,
            decipher_only=False), critical=True)
        usages = ([ExtendedKeyUsageOID.SERVER_AUTH] if server else []) + (
            [ExtendedKeyUsageOID.CLIENT_AUTH] if client else [])
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exmail test CA")])
    ca_cert = _issue("exmail test CA", ca_key, ca_name, ca_key, ca=True)
    srv_key, cli_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    srv_cert = _issue("localhost", srv_key, ca_name, ca_key, ca=False, server=True)
    cli_cert = _issue("exmail-pipeline", cli_key, ca_name, ca_key, ca=False, client=True)
    paths = Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.server_cert.write_bytes(srv_cert.public_bytes(serialization.Encoding.PEM))
    paths.server_key.write_bytes(_key_pem(srv_key))
    paths.client_cert.write_bytes(cli_cert.public_bytes(serialization.Encoding.PEM))
    paths.client_key.write_bytes(_key_pem(cli_key))
    for p in (paths.server_key, paths.client_key):
        p.chmod(0o600)
    return paths


# ---------------------------------------------------------------- rsyslog

RSYSLOGD = shutil.which("rsyslogd") or ("/usr/sbin/rsyslogd" if os.path.exists("/usr/sbin/rsyslogd") else None)
GTLS_MODULE = next((p for p in ("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so", "/usr/lib/rsyslog/lmnsd_gtls.so")
                    if os.path.exists(p)), None)
# One line per received message, made of the fields rsyslog parsed, so a framing or parse error shows.
_TEMPLATE = "%msgid%\\t%app-name%\\t%hostname%\\t%pri%\\t%timereported:::date-rfc3339%\\t%structured-data%\\t%msg%\\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rsyslog:
    port: int
    output: Path
    process: subprocess.Popen[bytes]
    log: Path

    def lines(self) -> list[str]:
        return self.output.read_text(encoding="utf-8").splitlines() if self.output.exists() else []

    async def wait_for_lines(self, n: int, within: float = 30.0) -> list[str]:
        """The output file's lines once there are `n` (rsyslog writes asynchronously), or what is there after
        `within` seconds."""
        deadline = time.monotonic() + within
        while len(self.lines()) < n and time.monotonic() < deadline and self.process.poll() is None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        return self.lines()


def _wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"rsyslogd exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"rsyslogd did not listen on {port}:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def rsyslog(tmp_path: Path, pki: Pki) -> Iterator[Callable[..., Rsyslog]]:
    """Start a private rsyslogd: `rsyslog(tls=False)` plain TCP, `rsyslog(tls=True, auth_mode=...)` TLS;
    `port=` picks the port (default: a free one)."""
    if RSYSLOGD is None:
        pytest.skip("rsyslogd is not installed (Debian packages rsyslog and rsyslog-gnutls)")
    started: list[subprocess.Popen[bytes]] = []

    def start(*, tls: bool = False, auth_mode: str = "anon", port: int | None = None) -> Rsyslog:
        if tls and GTLS_MODULE is None:
            pytest.skip("rsyslog's gtls driver is not installed (Debian package rsyslog-gnutls)")
        d = tmp_path / f"rsyslog-{len(started)}"
        (d / "work").mkdir(parents=True)
        port, out, log = port or free_port(), d / "received.log", d / "rsyslogd.log"
        conf = [f'global(workDirectory="{d / "work"}")']
        if tls:
            conf.append(f'global(defaultNetstreamDriverCAFile="{pki.ca}" defaultNetstreamDriverCertFile='
                        f'"{pki.server_cert}" defaultNetstreamDriverKeyFile="{pki.server_key}")')
            conf.append(f'module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" '
                        f'streamDriver.authMode="{auth_mode}")')
        else:
            conf.append('module(load="imtcp")')
        conf += [
            f'input(type="imtcp" port="{port}" address="127.0.0.1")',
            f'template(name="parsed" type="string" string="{_TEMPLATE}")',
            f'action(type="omfile" file="{out}" template="parsed")',
        ]
        (d / "rsyslog.conf").write_text("\n".join(conf) + "\n")
        with log.open("wb") as fh:
            proc = subprocess.Popen([RSYSLOGD, "-n", "-f", str(d / "rsyslog.conf"), "-i", str(d / "rsyslogd.pid")],
                                    stdout=fh, stderr=subprocess.STDOUT)
        started.append(proc)
        _wait_listening(port, proc, log)
        return Rsyslog(port, out, proc, log)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
