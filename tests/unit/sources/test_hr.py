"""HR intake: signed records accepted once, replays and malformed requests refused, 503 with Retry-After."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.envelope import fingerprint
from pipeline.sources._intake import IntakeGate
from pipeline.sources.hr import HrIntake, sign

SECRET = "hr-shared-secret"
HR = "t.hr.lifecycle"


@pytest.fixture
async def hr(env: Any) -> AsyncIterator[TestClient[Any, Any]]:
    gate = IntakeGate(env.rt.emitter, dedup_window_seconds=900)
    intake = HrIntake(secret=SECRET, corp_ids=[env.corp.corp_id], gate=gate, topic=HR, max_body_bytes=2048)
    app = web.Application()
    app.add_routes(intake.routes("/hr/lifecycle"))
    async with TestClient(TestServer(app)) as c:
        yield c


def signed(body: bytes, ts: int | None = None, secret: str = SECRET) -> dict[str, str]:
    stamp = str(ts if ts is not None else int(time.time()))
    return {"X-HR-Timestamp": stamp, "X-HR-Signature": sign(secret.encode(), stamp, body),
            "Content-Type": "application/json"}


JOINER = {"event": "joiner", "request_id": "req-1", "employee_id": "E100", "userid": "dan@acme.com",
          "name": "Dan", "department_path": "R&D/Mail team", "aliases": ["d@acme.com"]}


async def test_hr_accepts_signed_valid_records(env: Any, hr: TestClient[Any, Any], validate: Any) -> None:
    body = orjson.dumps({"records": [JOINER, {**JOINER, "event": "leaver", "request_id": "req-2"}]})
    resp = await hr.post("/hr/lifecycle", data=body, headers=signed(body))
    assert resp.status == 200
    answer = await resp.json()
    assert answer["accepted"] == 2
    values = env.broker.values(HR)
    assert [v["id"] for v in values] == answer["ids"]
    assert values[0]["id"] == fingerprint("hr", env.corp.corp_id, "req-1")
    for v in values:
        validate(v)
    assert values[0]["data"]["department_path"] == "R&D/Mail team" and values[0]["data"]["position"] is None


async def test_hr_refuses_a_replayed_signed_request(env: Any, hr: TestClient[Any, Any]) -> None:
    """A captured request (same timestamp, body and signature) sent again within the window is refused, and
    produces nothing; the same records signed anew are a new request."""
    body = orjson.dumps(JOINER)
    headers = signed(body)
    assert (await hr.post("/hr/lifecycle", data=body, headers=headers)).status == 200
    replayed = await hr.post("/hr/lifecycle", data=body, headers=headers)
    assert replayed.status == 409 and (await replayed.json())["error"] == "replayed"
    assert len(env.broker.values(HR)) == 1
    again = signed(body, ts=int(time.time()) + 1)
    assert (await hr.post("/hr/lifecycle", data=body, headers=again)).status == 200


@pytest.mark.parametrize("case,status,reason", [
    ("no_signature", 401, "missing_signature"), ("bad_signature", 401, "bad_signature"),
    ("stale", 401, "stale_timestamp"), ("not_json", 400, "not_json"), ("schema", 400, "invalid"),
    ("too_large", 413, "body_too_large"), ("unknown_corp", 400, "invalid"),
])
async def test_hr_rejections(env: Any, hr: TestClient[Any, Any], case: str, status: int, reason: str) -> None:
    body = orjson.dumps(JOINER)
    headers = signed(body)
    if case == "no_signature":
        headers.pop("X-HR-Signature")
    elif case == "bad_signature":
        headers = signed(body, secret="wrong")
    elif case == "stale":
        headers = signed(body, ts=int(time.time()) - 3600)
    elif case == "not_json":
        body = b"event=joiner"
        headers = signed(body)
    elif case == "schema":
        body = orjson.dumps([JOINER, {**JOINER, "event": "promotion", "extra": 1}])
        headers = signed(body)
    elif case == "too_large":
        body = orjson.dumps({**JOINER, "name": "x" * 3000})
        headers = signed(body)
    elif case == "unknown_corp":
        body = orjson.dumps({**JOINER, "corp_id": "wwsomeoneelse"})
        headers = signed(body)
    resp = await hr.post("/hr/lifecycle", data=body, headers=headers)
    assert resp.status == status
    answer = await resp.json()
    assert answer["error"] == reason
    if case == "schema":
        paths = {(d["index"], d["path"]) for d in answer["details"]}
        assert (1, "$.event") in paths and (1, "$") in paths
    assert SECRET not in (await resp.text())
    assert env.broker.values(HR) == []


async def test_hr_503_carries_retry_after_and_the_retry_lands_once(env: Any, hr: TestClient[Any, Any]) -> None:
    body = orjson.dumps(JOINER)
    env.broker.fail = lambda _t, _v: True
    resp = await hr.post("/hr/lifecycle", data=body, headers=signed(body))
    assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
    env.broker.fail = lambda _t, _v: False
    now = int(time.time())
    for ts in (now, now + 1):  # two retries, each signed anew (an identical signed request would be a replay)
        assert (await hr.post("/hr/lifecycle", data=body, headers=signed(body, ts))).status == 200
    assert len(env.broker.values(HR)) == 1
