"""Operator surfaces on the running processes: the silences CLI against a real worker (restart, failed write),
operator events in exmail.actions and the audit store, SSO links across a chat preview, restarts and replicas,
the HR replay cache, and processes that refuse to start unauthenticated."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from click.testing import CliRunner
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from pipeline.cli import main as pipeline_cli
from pipeline.kafka.reader import scan
from pipeline.sources.hr import sign
from pipeline.sso import SsoLinkSigner

pytestmark = pytest.mark.integration


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(stack: Any, role: str | None, *args: str) -> Ran:
    """`pipeline <args>` against the running processes (in this interpreter: no start-up cost per call)."""
    result = CliRunner().invoke(pipeline_cli, list(args), env={"EXMAIL_API_TOKEN": stack.tokens[role] if role else ""})
    return Ran(result.exit_code, result.stdout, result.output)


def eventually(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}")


def records(stack: Any, base: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    scan(stack.bootstrap, stack.topic(base), lambda k, v: out.append(orjson.loads(v)) if v else None)
    return out


def set_max_message_bytes(stack: Any, value: str | None) -> None:
    """A real broker-side refusal of every silence write (the record is larger than the topic accepts)."""
    admin = AdminClient({"bootstrap.servers": stack.bootstrap})
    op = AlterConfigOpType.SET if value else AlterConfigOpType.DELETE
    res = ConfigResource(ConfigResource.Type.TOPIC, stack.topic("exmail.state.silences"),
                         incremental_configs=[ConfigEntry("max.message.bytes", value or "", incremental_operation=op)])
    for fut in admin.incremental_alter_configs([res]).values():
        fut.result(30)


def test_silence_cli_against_the_running_worker_survives_restart_and_a_failed_write_changes_nothing(
        stack: Any) -> None:
    url = f"{stack.worker_url}/alerting"
    anon = cli(stack, None, "silence", "add", 'alertname="sec_drill"', "-c", "x", "--url", url)
    assert anon.returncode != 0 and "HTTP 401" in anon.stderr
    viewer = cli(stack, "viewer", "silence", "add", 'alertname="sec_drill"', "-c", "x", "--url", url)
    assert viewer.returncode != 0 and "HTTP 403" in viewer.stderr
    added = [cli(stack, "operator", "silence", "add", f'alertname="sec_drill_{i}"', "-c", f"drill {i}", "-d", "2h",
                 "--url", url) for i in (1, 2)]
    assert all(a.returncode == 0 for a in added), [a.stderr for a in added]
    kept, gone = (a.stdout.strip() for a in added)
    listed = cli(stack, "viewer", "silence", "list", "--url", url)
    assert kept in listed.stdout and "by sec-operator" in listed.stdout, listed.stdout
    expired = cli(stack, "operator", "silence", "expire", gone, "--url", url)
    assert expired.returncode == 0 and f"{gone} expired" in expired.stdout

    stack.stop("worker")
    stack.start_worker()

    def after_restart() -> dict[str, str]:
        answer = cli(stack, "viewer", "silence", "list", "--state", "all", "--json", "--url", url)
        rows = orjson.loads(answer.stdout) if answer.returncode == 0 else []
        return {s["id"]: s["status"]["state"] for s in rows if s["id"] in (kept, gone)}

    states = eventually(lambda: len(after_restart()) == 2 and after_restart(), 90, "silences after restart")
    assert states == {kept: "active", gone: "expired"}

    set_max_message_bytes(stack, "64")
    try:
        refused = cli(stack, "operator", "silence", "add", 'alertname="sec_never"', "-c", "x", "--url", url)
        assert refused.returncode != 0 and "HTTP 503" in refused.stderr, refused.stderr
        not_expired = cli(stack, "operator", "silence", "expire", kept, "--url", url)
        assert not_expired.returncode != 0 and "HTTP 503" in not_expired.stderr
    finally:
        set_max_message_bytes(stack, None)
    active = orjson.loads(cli(stack, "viewer", "silence", "list", "--json", "--url", url).stdout)
    assert [s["id"] for s in active if s["id"] in (kept, gone)] == [kept], "a failed write changed nothing"
    assert not [s for s in active if "sec_never" in str(s["matchers"])]
    stored = {r["data"]["id"]: r for r in [{"data": v} for v in records(stack, "exmail.state.silences")]}
    assert kept in stored and not [v for v in stored.values() if "sec_never" in str(v)]

    # every operator action: an event on exmail.actions naming the principal, and a row in the audit store
    ops = [(r["data"]["event"]["action"], r["data"]["target"]["id"], r["data"]["user"]["name"])
           for r in records(stack, "exmail.actions") if r["schema"] == "exmail.operator/1"]
    assert sorted(o for o in ops if o[1] in (kept, gone)) == sorted([
        ("silence.created", kept, "sec-operator"), ("silence.created", gone, "sec-operator"),
        ("silence.expired", gone, "sec-operator")])

    def audited() -> int:
        with sqlite3.connect(f"file:{stack.root / 'audit.db'}?mode=ro", uri=True) as con:
            return int(con.execute("SELECT count(*) FROM audit_records WHERE schema = 'exmail.operator/1' "
                                   "AND action LIKE 'silence.%'").fetchone()[0])

    eventually(lambda: audited() >= 3, 60, "operator events in the audit store")


def test_sso_link_survives_a_chat_preview_and_works_once_across_restart_and_replicas(stack: Any) -> None:
    corp, mailbox = stack.creds["corp_id"], stack.creds["service_mailbox"]
    a = f"{stack.ingest_url}/sso"

    def click(base: str, link: str) -> httpx.Response:
        """The confirmation page's button: POST the link's token as a form."""
        return httpx.post(base, data={"t": httpx.URL(link).params["t"]}, timeout=30)

    link = SsoLinkSigner(stack.sso_secret, a).link(corp, mailbox)
    for _ in range(2):  # WeCom's preview fetch, then the person opening the page
        page = httpx.get(link, timeout=15)
        assert page.status_code == 200 and mailbox in page.text and "<form method='post'>" in page.text
    first = click(a, link)
    assert first.status_code == 303, first.text
    assert first.headers["location"].startswith(stack.creds["base_url"]) and "authkey=" in first.headers["location"]
    assert click(a, link).status_code == 410

    stack.stop("ingest")
    stack.start_ingest()
    assert click(a, link).status_code == 410, "a used link stays used after a restart"
    assert httpx.get(link, timeout=15).status_code == 410

    port_b = free_port()
    stack.start_ingest("ingest-b", port_b)
    b = f"http://127.0.0.1:{port_b}/sso"
    try:
        assert click(b, link).status_code == 410, "a used link is used on every replica"
        second = SsoLinkSigner(stack.sso_secret, a).link(corp, mailbox)
        assert click(b, second).status_code == 303
        assert click(a, second).status_code == 410, "a click on another replica is seen by this one"
    finally:
        stack.stop("ingest-b")
    # two links were claimed; a click racing a claim another replica made a moment earlier writes its own
    # claim record for the same key and loses, so there may be more records than keys
    keys: list[bytes] = []
    scan(stack.bootstrap, stack.topic("exmail.state.claims"), lambda k, _v: keys.append(k or b""))
    assert len(set(keys)) == 2 and len(keys) >= 2


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hr_intake_refuses_a_replayed_signed_request(stack: Any) -> None:
    body = orjson.dumps({"event": "joiner", "request_id": f"sec-{time.time_ns()}", "employee_id": "E9",
                         "userid": f"new.hire@{stack.creds['domain']}", "name": "New Hire"})
    stamp = str(int(time.time()))
    headers = {"X-HR-Timestamp": stamp, "X-HR-Signature": sign(stack.hr_secret.encode(), stamp, body),
               "Content-Type": "application/json"}
    before = len(records(stack, "hr.lifecycle"))
    url = f"{stack.ingest_url}/hr/lifecycle"
    assert httpx.post(url, content=body, headers=headers, timeout=30).status_code == 200
    replayed = httpx.post(url, content=body, headers=headers, timeout=30)
    assert replayed.status_code == 409 and replayed.json()["error"] == "replayed"
    assert len(records(stack, "hr.lifecycle")) == before + 1


def test_processes_refuse_to_start_state_changing_apis_without_auth(stack: Any, tmp_path: Path) -> None:
    config = yaml.safe_load(stack.config.read_text())
    del config["auth"]
    del config["worker"]["sse"]  # its token is a (viewer) credential; here there must be none at all
    config["worker"]["http_port"] = free_port()
    config["ingest"]["http"]["port"] = free_port()
    bare = tmp_path / "no-auth.yaml"
    bare.write_text(yaml.safe_dump(config))
    for command in (["worker", "--config", str(bare)], ["ingest", "--config", str(bare)]):
        done = subprocess.run([sys.executable, "-m", "pipeline.cli", *command], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode != 0 and "refusing to serve state-changing routes" in done.stderr, done.stderr
    config["auth"] = {"insecure_anonymous_admin_on_loopback": True}
    config["worker"]["http_host"] = "0.0.0.0"
    exposed = tmp_path / "insecure-exposed.yaml"
    exposed.write_text(yaml.safe_dump(config))
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "worker", "--config", str(exposed)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode != 0 and "loopback" in done.stderr, done.stderr
