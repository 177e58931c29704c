"""The console over a real SilenceStore, Dispatcher and SQLite audit store, behind the real auth guard: login
and session cookie, CSRF on the APIs the pages call, role refusals, languages, silence preview, audit search."""

from __future__ import annotations

import html
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.auth import SESSION_COOKIE, AuthConfig, Authenticator, secure_app
from pipeline.console import ConsoleConfig, ConsoleDeps, create_console_app
from pipeline.envelope import Envelope, fingerprint
from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.audit.sqlite import SqliteAuditStore
from pipeline.transforms.routing import Dispatcher, SilenceStore, create_silences_app, parse_routing_config
from pipeline.transforms.rules import Alert


def login_event(i: int) -> Envelope:
    at = f"2026-11-05T10:00:{i:02d}.000Z"
    data = {"@timestamp": at, "message": f"login of u{i}",
            "event": {"kind": "event", "dataset": "exmail.login_log", "action": "login", "outcome": "success"},
            "user": {"email": f"u{i}@acme.example"}, "source": {"ip": f"198.51.100.{i}"},
            "ocsf": {"class_uid": 3002, "activity_id": 1}}
    return Envelope(schema="exmail.event/1", id=fingerprint("console-test", i), corp_id="corp1", source="normalize",
                    occurred_at=at, observed_at=at, data=data)


TOKENS = {"ada": ("admin", "a" * 32), "olga": ("operator", "o" * 32), "vic": ("viewer", "v" * 32)}


@pytest.fixture
async def console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[dict[str, Any]]:
    for name, (_, value) in TOKENS.items():
        monkeypatch.setenv(f"TOK_{name.upper()}", value)
    auth = Authenticator(AuthConfig.model_validate(
        {"tokens": [{"name": n, "roles": [r], "token": f"env:TOK_{n.upper()}"} for n, (r, _) in TOKENS.items()]}))
    silences = SilenceStore()
    dispatcher = Dispatcher(parse_routing_config({
        "route": {"receiver": "ops", "group_by": ["alertname"], "group_wait": "30s", "group_interval": "5m",
                  "repeat_interval": "4h"},
        "receivers": [{"name": "ops"}]}), silences=silences)
    now = time.time()
    dispatcher.ingest(Alert(labels={"alertname": "login_new_ip", "user": "bob@acme.example"},
                            annotations={"summary": "bob from 203.0.113.9"}, starts_at=now, ends_at=now + 600,
                            rule="login_new_ip"), now)
    db = tmp_path / "audit.db"
    store = await SqliteAuditStore.open(db)
    await store.write_batch([login_event(i) for i in range(12)], 0)
    await store.close()
    deps = ConsoleDeps(config=ConsoleConfig(page_size=5), auth=auth, kafka=KafkaSettings(bootstrap="127.0.0.1:1"),
                       names=TopicNames(""), group="g", audit=AuditStoreConfig(kind="sqlite", path=db),
                       views={"silences": silences, "dispatcher": dispatcher})
    outer = web.Application()
    outer.add_subapp("/console", create_console_app(deps))
    outer.add_subapp("/alerting", create_silences_app(silences))
    secure_app(outer, auth, process="worker", host="127.0.0.1")
    client = TestClient(TestServer(outer))
    await client.start_server()
    try:
        yield {"client": client, "silences": silences}
    finally:
        await client.close()


async def login(client: TestClient, name: str) -> str:
    """Log in through the form; returns the page CSRF token."""
    page = await client.get("/console/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert nonce is not None
    resp = await client.post("/console/login", data={"csrf": nonce.group(1), "token": TOKENS[name][1],
                                                      "next": "/console/silences"}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/silences"
    set_cookie = resp.headers["Set-Cookie"]
    assert SESSION_COOKIE in set_cookie and "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
    assert TOKENS[name][1] not in set_cookie
    alerts = await client.get("/console/alerts")
    csrf = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', await alerts.text())
    assert csrf is not None
    return csrf.group(1)


async def test_a_browser_without_session_is_sent_to_login(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    resp = await client.get("/console/audit?ip=1.2.3.4", allow_redirects=False)
    location = urlsplit(resp.headers["Location"])
    assert resp.status == 303 and location.path == "/console/login"
    assert parse_qs(location.query) == {"next": ["/console/audit?ip=1.2.3.4"]}
    api = await client.get("/alerting/api/silences")
    assert api.status == 401  # APIs keep answering JSON


async def test_login_rejects_a_wrong_token_and_a_missing_form_token(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    page = await client.get("/console/login")
    nonce = re.search(r'name="csrf" value="([^"]+)"', await page.text())
    assert nonce is not None
    bad = await client.post("/console/login", data={"csrf": nonce.group(1), "token": "x" * 32})
    assert bad.status == 401 and "not valid" in await bad.text()
    forged = await client.post("/console/login", data={"csrf": "forged", "token": TOKENS["ada"][1]})
    assert forged.status == 403 and SESSION_COOKIE not in forged.headers.get("Set-Cookie", "")


async def test_the_session_is_the_tokens_principal_and_posts_need_its_csrf(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    csrf = await login(client, "olga")
    assert (await (await client.get("/auth/whoami")).json()) == {"name": "olga", "roles": ["operator"],
                                                                  "method": "bearer"}
    body = {"matchers": ['alertname="login_new_ip"'], "duration": "1h", "comment": "maintenance"}
    refused = await client.post("/alerting/api/silences", json=body)
    assert refused.status == 403 and "CSRF" in (await refused.json())["error"]
    created = await client.post("/alerting/api/silences", json=body, headers={"X-CSRF-Token": csrf})
    assert created.status == 200, await created.text()
    assert (await created.json())["silence"]["created_by"] == "olga"
    sid = (await created.json())["silence_id"]
    page = await (await client.get("/console/alerts")).text()
    assert "silenced" in page and sid in page
    listed = await (await client.get("/console/silences")).text()
    assert f'data-silence="{sid}" class="state-active"' in listed and 'alertname="login_new_ip"' in listed


async def test_preview_lists_the_alerts_a_silence_would_mute_now(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    csrf = await login(client, "vic")
    hit = await client.post("/console/silences/preview", json={"matchers": ['user="bob@acme.example"']},
                            headers={"X-CSRF-Token": csrf})
    assert hit.status == 200 and (await hit.json())["count"] == 1
    miss = await client.post("/console/silences/preview", json={"matchers": ['user="eve@acme.example"']},
                             headers={"X-CSRF-Token": csrf})
    assert (await miss.json())["count"] == 0
    bad = await client.post("/console/silences/preview", json={"matchers": ['user=~""']},
                            headers={"X-CSRF-Token": csrf})
    assert bad.status == 400
    assert len(console["silences"]) == 0  # a preview stores nothing


async def test_roles_a_viewer_is_refused_with_a_page(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    csrf = await login(client, "vic")
    replay = await client.post("/console/pipeline/replay", data={"csrf": csrf, "stage": "normalize"})
    assert replay.status == 403 and "role operator required" in await replay.text()
    assert replay.content_type == "text/html"
    silence = await client.post("/alerting/api/silences", json={"matchers": ['a="b"'], "comment": "x"},
                                headers={"X-CSRF-Token": csrf})
    assert silence.status == 403
    page = await (await client.get("/console/silences")).text()
    assert 'id="silence-form"' not in page  # no form for a role that cannot use it


async def test_the_api_console_is_for_admins(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    await login(client, "olga")
    refused = await client.get("/console/api")
    assert refused.status == 403 and "role admin required" in await refused.text()
    assert 'id="nav-api"' not in await (await client.get("/console/alerts")).text()
    client.session.cookie_jar.clear()
    await login(client, "ada")
    page = await client.get("/console/api")
    assert page.status == 200 and "user/get" in await page.text()


async def test_language_from_accept_language_and_the_switch(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    zh = await client.get("/console/login", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert "访问令牌" in await zh.text()
    en = await client.get("/console/login", headers={"Accept-Language": "fr-FR, en;q=0.5, zh;q=0.1"})
    assert "Access token" in await en.text()
    switched = await client.get("/console/lang?to=zh&next=/console/login", allow_redirects=False)
    assert switched.status == 303 and switched.headers["Location"] == "/console/login"
    again = await client.get("/console/login", headers={"Accept-Language": "en"})
    assert "访问令牌" in await again.text()
    evil = await client.get("/console/lang?to=en&next=https://evil.example/", allow_redirects=False)
    assert evil.headers["Location"] == "/console/alerts"


async def test_audit_search_paging_document_export_and_verify(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    await login(client, "vic")
    one = html.unescape(await (await client.get("/console/audit", params={"ip": "198.51.100.7"})).text())
    assert one.count('class="audit-row"') == 1 and "u7@acme.example" in one and '"class_uid": 3002' in one
    first = await (await client.get("/console/audit", params={"kind": "exmail.login_log"})).text()
    assert first.count('class="audit-row"') == 5 and 'id="next-page"' in first
    last = await (await client.get("/console/audit", params={"kind": "exmail.login_log", "page": "2"})).text()
    assert last.count('class="audit-row"') == 2 and 'id="next-page"' not in last
    text = await (await client.get("/console/audit", params={"q": "U11@ACME"})).text()
    assert text.count('class="audit-row"') == 1
    bad = await (await client.get("/console/audit", params={"ip": "not-an-ip"})).text()
    assert "neither an IP address" in bad
    csv_body = await (await client.get("/console/audit/export", params={"format": "csv", "user": "u3@acme.example"}
                                       )).text()
    assert csv_body.splitlines()[0].startswith("occurred_at,corp_id,kind") and len(csv_body.splitlines()) == 2
    jsonl = await (await client.get("/console/audit/export", params={"format": "jsonl"})).read()
    assert len([orjson.loads(x) for x in jsonl.splitlines()]) == 12
    verified = await (await client.get("/console/audit/verify")).text()
    assert 'id="verify-result" class="ok"' in verified and "12 rows" in verified


async def test_a_forged_cookie_is_no_session_and_a_bearer_header_needs_no_csrf(console: dict[str, Any]) -> None:
    client: TestClient = console["client"]
    client.session.cookie_jar.update_cookies({SESSION_COOKIE: "forged.0000"})
    page = await client.get("/console/alerts", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/console/login")
    bearer = await client.post("/alerting/api/silences", headers={"Authorization": f"Bearer {TOKENS['olga'][1]}"},
                               json={"matchers": ['alertname="x"'], "duration": "1h", "comment": "api client"})
    assert bearer.status == 200 and (await bearer.json())["silence"]["created_by"] == "olga"
