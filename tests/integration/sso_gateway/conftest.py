"""Real peers of the SSO gateway, started per test: a private OpenLDAP server (Debian's slapd on a free port
with its config and database in tmp), an OpenID Connect provider (the `oidc-provider` npm package run by
tests/peers/oidc/server.mjs), the simulator over TCP, and `pipeline ingest` as a subprocess."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson
import pytest
import yaml

from pipeline.kafka.reader import scan
from pipeline.sim import SimConfig, run_simulator
from pipeline.sources.config import config_from_sim_credentials
from pipeline.sso_gateway._pages import parse_reason

ROOT = Path(__file__).resolve().parents[3]
OIDC_PEER = ROOT / "tests" / "peers" / "oidc"
SLAPD = "/usr/sbin/slapd"
SCHEMAS = Path("/etc/ldap/schema")
BASE_DN = "dc=example,dc=com"
READER_DN = f"cn=reader,{BASE_DN}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"peer exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    pytest.fail(f"peer did not listen on {port}:\n{log.read_text(errors='replace')[-3000:]}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---------------------------------------------------------------- OpenLDAP


@dataclass(frozen=True)
class LdapUser:
    uid: str
    password: str
    mail: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Slapd:
    url: str
    reader_password_file: Path


def _ldif(users: list[LdapUser], reader_password: str) -> str:
    out = [f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n",
           f"dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n",
           f"dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n",
           f"dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\n"
           f"userPassword: {reader_password}\n"]
    for u in users:
        out.append(f"dn: uid={u.uid},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {u.uid}\ncn: {u.uid}\n"
                   f"sn: {u.uid}\nmail: {u.mail}\nuserPassword: {u.password}\n")
    for group in sorted({g for u in users for g in u.groups}):
        members = "".join(f"member: uid={u.uid},ou=people,{BASE_DN}\n" for u in users if group in u.groups)
        out.append(f"dn: cn={group},ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: {group}\n{members}")
    return "\n".join(out)


@pytest.fixture
def slapd(tmp_path: Path) -> Iterator[Callable[[list[dict[str, Any]]], Slapd]]:
    """slapd([{uid, password, mail, groups}, ...]) -> a private slapd on a free port holding those users and
    their groups (groupOfNames), plus a service account cn=reader whose password is in a file (a secret ref)."""
    if not os.access(SLAPD, os.X_OK):
        pytest.fail("slapd is not installed: run ops/setup.sh (Debian packages slapd ldap-utils)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(entries: list[dict[str, Any]]) -> Slapd:
        users = [LdapUser(e["uid"], e["password"], e["mail"], tuple(e["groups"])) for e in entries]
        home = tmp_path / "slapd"
        (home / "db").mkdir(parents=True)
        reader_password = "reader-" + os.urandom(6).hex()
        conf = home / "slapd.conf"
        conf.write_text("\n".join([
            *(f"include {SCHEMAS / s}.schema" for s in ("core", "cosine", "inetorgperson", "nis")),
            f"pidfile {home / 'slapd.pid'}", f"argsfile {home / 'slapd.args'}",
            "modulepath /usr/lib/ldap", "moduleload back_mdb",
            "database mdb", "maxsize 16777216", f'suffix "{BASE_DN}"', f'rootdn "cn=admin,{BASE_DN}"',
            f"rootpw admin-{os.urandom(6).hex()}", f"directory {home / 'db'}",
            # passwords: only for binding; the reader searches everything else, users read themselves
            "access to attrs=userPassword by anonymous auth by self auth by * none",
            f'access to * by dn.exact="{READER_DN}" read by self read by * none',
        ]) + "\n")
        ldif = home / "data.ldif"
        ldif.write_text(_ldif(users, reader_password))
        loaded = subprocess.run(["/usr/sbin/slapadd", "-f", str(conf), "-l", str(ldif)], capture_output=True,
                                text=True, check=False)
        if loaded.returncode != 0:
            pytest.fail(f"slapadd failed:\n{loaded.stderr[-3000:]}")
        port = free_port()
        log = home / "slapd.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([SLAPD, "-h", f"ldap://127.0.0.1:{port}/", "-f", str(conf), "-d", "0"],
                                    stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        _wait_port(port, proc, log)
        secret = tmp_path / "ldap-reader.secret"
        secret.write_text(reader_password)
        return Slapd(url=f"ldap://127.0.0.1:{port}", reader_password_file=secret)

    yield start
    for proc in procs:
        _stop(proc)


# ---------------------------------------------------------------- OpenID Connect provider


@dataclass(frozen=True)
class OidcProvider:
    issuer: str
    client_id: str
    client_secret_file: Path


@pytest.fixture
def oidc_provider(tmp_path: Path) -> Iterator[Callable[[list[str], dict[str, dict[str, Any]]], OidcProvider]]:
    """oidc_provider(redirect_uris, users) -> a running oidc-provider with one confidential client;
    users map a login name to {"email": ..., "groups": [...]}."""
    if shutil.which("node") is None or not (OIDC_PEER / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the OIDC peer is not installed: run ops/setup.sh (npm ci in tests/peers/oidc)")
    procs: list[subprocess.Popen[bytes]] = []

    def start(redirect_uris: list[str], users: dict[str, dict[str, Any]]) -> OidcProvider:
        secret = "client-" + os.urandom(12).hex()
        config = tmp_path / "oidc.json"
        config.write_bytes(orjson.dumps({"client_id": "exmail-gateway", "client_secret": secret,
                                         "redirect_uris": redirect_uris, "users": users}))
        log = tmp_path / "oidc.log"
        err = log.open("wb")
        proc = subprocess.Popen(["node", str(OIDC_PEER / "server.mjs"), str(config)], stdout=subprocess.PIPE,
                                stderr=err, cwd=OIDC_PEER)
        err.close()
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(timeout=10)
            pytest.fail(f"the OIDC provider did not start:\n{log.read_text(errors='replace')[-3000:]}")
        secret_file = tmp_path / "oidc-client.secret"
        secret_file.write_text(secret)
        return OidcProvider(issuer=orjson.loads(line)["issuer"], client_id="exmail-gateway",
                            client_secret_file=secret_file)

    yield start
    for proc in procs:
        _stop(proc)


# ---------------------------------------------------------------- simulator, ingest


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    config = SimConfig(users=40, seed=23, speed=0, start="2026-03-10T10:00:00+08:00", traffic={"enabled": False})
    async with run_simulator(config) as handle:
        yield handle


@dataclass
class IngestProcess:
    url: str
    proc: asyncio.subprocess.Process
    log: Path

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
async def ingest_process(tmp_path: Path, kafka_bootstrap: str, topic_prefix: str
                         ) -> AsyncIterator[Callable[..., Any]]:
    """await ingest_process(sim, port, gateway_section) -> `pipeline ingest` serving the gateway (no pollers)."""
    started: list[IngestProcess] = []

    async def start(handle: Any, port: int, gateway: dict[str, Any]) -> IngestProcess:
        creds = tmp_path / "sim-credentials.json"
        creds.write_bytes(orjson.dumps(handle.credentials))
        base = config_from_sim_credentials(creds)
        corp = base.corps[0].model_dump(mode="json")
        corp["streams"] = []
        config = {"kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": topic_prefix, "partitions": 3},
                  "ingest": {"corps": [corp], "clock": base.clock.model_dump(mode="json"),
                             "http": {"host": "127.0.0.1", "port": port}, "shutdown_grace_seconds": 2,
                             "sso_gateway": gateway}}
        path = tmp_path / "pipeline.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True))
        check = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("pipeline")), "check-config", str(path), "--resolve-secrets",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        said, _ = await check.communicate()
        assert check.returncode == 0, said.decode()
        log = tmp_path / "ingest.log"
        out = log.open("ab")
        proc = await asyncio.create_subprocess_exec(str(Path(sys.executable).with_name("pipeline")), "ingest",
                                                    "--config", str(path), stdout=out, stderr=out)
        out.close()
        running = IngestProcess(f"http://127.0.0.1:{port}", proc, log)
        started.append(running)
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as client:
            while True:
                assert proc.returncode is None, running.tail()
                assert time.monotonic() < deadline, "ingest did not serve /healthz:\n" + running.tail()
                try:
                    if (await client.get(f"{running.url}/healthz")).status_code == 200:
                        return running
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)

    yield start
    for running in started:
        if running.proc.returncode is None:
            running.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(running.proc.wait(), 30)
            except TimeoutError:
                running.proc.kill()
                await running.proc.wait()


@pytest.fixture
def read_actions(kafka_bootstrap: str, topic_prefix: str) -> Callable[[], Any]:
    async def read() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        await asyncio.to_thread(scan, kafka_bootstrap, f"{topic_prefix}exmail.actions",
                                lambda _k, v: out.append(orjson.loads(v)) if v is not None else None)
        return out

    return read


@pytest.fixture(scope="session")
def validate_action() -> Callable[[dict[str, Any]], None]:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    resources = []
    for path in (ROOT / "schemas").glob("*.json"):
        doc = orjson.loads(path.read_bytes())
        if isinstance(doc, dict) and "$id" in doc:
            resources.append((doc["$id"], Resource.from_contents(doc)))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = orjson.loads((ROOT / "schemas" / "action.v1.json").read_bytes())
    validator = Draft202012Validator(schema, registry=registry)
    return validator.validate


# ---------------------------------------------------------------- driving a browser's part


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "method": a.get("method", "get"), "fields": {}})
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value", "")


def parse_form(html: str) -> dict[str, Any]:
    parser = _Forms()
    parser.feed(html)
    assert parser.forms, f"no form in page: {html[:500]}"
    return parser.forms[0]


async def follow(client: httpx.AsyncClient, response: httpx.Response, *, stop_at: str,
                 fill: dict[str, str] | None = None, max_steps: int = 20) -> httpx.Response:
    """Act as the browser: follow redirects and submit each form (filling `fill` into its fields) until a
    redirect points at a URL starting with `stop_at`; returns that redirect response (not followed)."""
    for _ in range(max_steps):
        if response.is_redirect:
            target = urljoin(str(response.url), response.headers["location"])
            if target.startswith(stop_at):
                return response
            response = await client.get(target)
            continue
        assert response.status_code == 200, f"{response.status_code} at {response.url}: {response.text[:500]}"
        form = parse_form(response.text)
        fields = {**form["fields"], **{k: v for k, v in (fill or {}).items() if k in form["fields"]}}
        response = await client.post(urljoin(str(response.url), form["action"]), data=fields)
    pytest.fail(f"no redirect to {stop_at} after {max_steps} steps")


def location(response: httpx.Response) -> str:
    return urljoin(str(response.url), response.headers["location"])




@pytest.fixture
def browser_kit() -> Any:
    """The helpers above for test modules (test files do not import conftest)."""
    return SimpleNamespace(follow=follow, free_port=free_port, location=location, reason_code=parse_reason,
                           parse_form=parse_form)


@pytest.fixture
async def audit_store(tmp_path: Path, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Callable[..., Any]]:
    """await audit_store(expect) -> the `sso_login` rows a real `pipeline worker --agent audit` (SQLite) stored
    from this test's exmail.actions, once `expect` of them are there (`pipeline audit query` reads them)."""
    pipeline = str(Path(sys.executable).with_name("pipeline"))
    db = tmp_path / "audit.db"
    log = tmp_path / "worker.log"
    procs: list[asyncio.subprocess.Process] = []

    async def rows(expect: int) -> list[dict[str, Any]]:
        out = log.open("ab")
        proc = await asyncio.create_subprocess_exec(
            pipeline, "worker", "--bootstrap", kafka_bootstrap, "--prefix", topic_prefix, "--app-id",
            f"{topic_prefix}audit", "--http-port", "0", "--agent", "audit", "--sqlite", str(db),
            stdout=out, stderr=out, env=dict(os.environ, EXMAIL_STATE_DIR=str(tmp_path / "worker-state")))
        out.close()
        procs.append(proc)
        deadline = time.monotonic() + 90
        found: list[dict[str, Any]] = []
        while len(found) < expect:
            assert proc.returncode is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, f"{len(found)} of {expect} rows stored:\n" + log.read_text(
                errors="replace")[-3000:]
            await asyncio.sleep(0.5)
            if not db.exists():
                continue
            query = await asyncio.create_subprocess_exec(
                pipeline, "audit", "query", "--db", str(db), "--action", "sso_login", "--format", "jsonl",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            said, _ = await query.communicate()
            if query.returncode == 0:
                found = [orjson.loads(line) for line in said.splitlines() if line.strip()]
        return found

    yield rows
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
