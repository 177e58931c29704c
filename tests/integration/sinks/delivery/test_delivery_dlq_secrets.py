"""The production dead-letter path, per secret kind: a real `pipeline worker --agent delivery` sends to
destinations that refuse permanently and echo back everything they received (URL with keys and tokens,
headers, signatures, the message with its SSO links); the letters read back from exmail.dlq on the real
broker hold none of it, and each is the routing record that `pipeline replay` may resend (fresh links)."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from pipeline.envelope import Envelope, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.reader import scan
from pipeline.secrets import is_masked

pytestmark = pytest.mark.integration

# path prefix -> the destination's permanent refusal code (the echo rides in errmsg / msg)
REFUSAL = {"wecom": 93000, "feishu": 19001, "dingtalk": 310000}


async def echo_server() -> tuple[web.AppRunner, str, list[str]]:
    seen: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        body = (await request.read()).decode("utf-8", "replace")
        echo = f"refused {request.method} {request.path_qs} headers={dict(request.headers)} body={body[:3000]}"
        seen.append(echo)
        if request.path.startswith("/oa/"):
            return web.Response(status=400, text=echo)
        code = REFUSAL[request.path.split("/")[1]]
        return web.json_response({"errcode": code, "errmsg": echo, "code": code, "msg": echo})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}", seen


def read_all(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    scan(bootstrap, topic, lambda _k, v: found.append(orjson.loads(v)) if v else None)
    return found


def notification(receiver: str, corp: str, n: int) -> Envelope:
    at = utc_iso()
    data = {"receiver": receiver, "group_key": f"{{}}:{{alertname=\"cs_external_mail\"}}/{receiver}",
            "title": f"[FIRING:1] cs_external_mail ({receiver})", "reason": "new",
            "alerts": [{"labels": {"alertname": "cs_external_mail", "severity": "warning", "corp": corp,
                                   "user": "service@corp.example"},
                        "annotations": {"summary": "mail from a customer"}, "status": "firing",
                        "starts_at": at, "ends_at": None, "fingerprint": f"fp{n}",
                        "sso_user": "service@corp.example"}]}
    return Envelope(schema="exmail.notification/1", id=uuid.uuid4().hex, corp_id=corp,
                    source="pipeline.transforms.routing", occurred_at=at, observed_at=at, data=data)


async def test_dead_letters_of_every_destination_hold_no_live_secret(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    live = {
        "ROBOT_KEY": f"rk{secrets.token_hex(12)}",
        "FS_TOKEN": str(uuid.uuid4()),
        "FS_SECRET": f"fs{secrets.token_hex(12)}",
        "DT_TOKEN": f"dt{secrets.token_hex(16)}",
        "DT_SECRET": f"SEC{secrets.token_hex(16)}",
        "OA_TOKEN": f"oa{secrets.token_hex(12)}",
        "OA_SECRET": f"oas{secrets.token_hex(12)}",
        "SSO_SECRET": secrets.token_urlsafe(32),
    }
    runner, base, seen = await echo_server()
    env = {**os.environ, **live, "OA_URL": f"{base}/oa/hook?token={live['OA_TOKEN']}"}
    receivers = [
        {"name": "robot", "kind": "wecom_robot", "key": "env:ROBOT_KEY", "base_url": f"{base}/wecom",
         "language": "en"},
        {"name": "lark", "kind": "feishu", "hook_token": "env:FS_TOKEN", "secret": "env:FS_SECRET",
         "base_url": f"{base}/feishu", "language": "en"},
        {"name": "ding", "kind": "dingtalk", "access_token": "env:DT_TOKEN", "secret": "env:DT_SECRET",
         "base_url": f"{base}/dingtalk", "language": "en"},
        {"name": "oa", "kind": "webhook", "url": "env:OA_URL", "secret": "env:OA_SECRET"},
    ]
    config = {"kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": topic_prefix, "partitions": 1},
              "worker": {"app_id": f"{topic_prefix}dlq", "agents": ["delivery"], "http_port": 0},
              "alerting": {"routing": {"route": {"receiver": "robot"}, "receivers": receivers},
                           "sso": {"base_url": "https://pipeline.example/sso", "secret": "env:SSO_SECRET"},
                           "operator_alerts": False}}
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(yaml.safe_dump(config))
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=1)
    names = TopicNames(topic_prefix)
    producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap))
    notes = [notification(r["name"], "wwdlqcorp", i) for i, r in enumerate(receivers)]
    await producer.send_many((names.notifications, n.data["receiver"].encode(), n) for n in notes)
    producer.close()
    log = tmp_path / "worker.log"
    worker = await asyncio.to_thread(
        subprocess.Popen, [sys.executable, "-m", "pipeline.cli", "worker", "--config", str(cfg)],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)
    letters: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(letters) < len(receivers):
            await asyncio.sleep(1.0)
            assert worker.poll() is None, log.read_text()[-4000:]
            letters = [x for x in await asyncio.to_thread(read_all, kafka_bootstrap, names.dlq)
                       if str(x["data"]["stage"]).startswith("delivery.")]
    finally:
        worker.send_signal(signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 60)
        await runner.cleanup()
    assert len(letters) == len(receivers), log.read_text()[-4000:]

    # the destinations did receive every kind of secret (so the check below is not vacuous) ...
    echoed = "\n".join(seen)
    links = re.findall(r"pipeline\.example/sso\?t=([A-Za-z0-9_%.-]+)", echoed)
    assert links, "the messages carried SSO links"
    signatures = re.findall(r'"sign":\s*"([^"]+)"', echoed) + re.findall(r"[?&]sign=([^&\s']+)", echoed)
    assert signatures, "the Feishu/DingTalk requests were signed"
    for value in (live["ROBOT_KEY"], live["FS_TOKEN"], live["DT_TOKEN"]):
        assert value in echoed
    # ... and none of it is in the dead letters, nor in the worker's log
    leaks = [live[k] for k in ("ROBOT_KEY", "FS_TOKEN", "FS_SECRET", "DT_TOKEN", "DT_SECRET", "OA_TOKEN",
                               "OA_SECRET", "SSO_SECRET")] + links + signatures
    text = orjson.dumps(letters).decode()
    assert [v for v in leaks if v in text] == []
    assert [v for v in leaks if v in log.read_text(errors="replace")] == []
    by_stage = {x["data"]["stage"]: x for x in letters}
    assert set(by_stage) == {"delivery.wecom_robot", "delivery.feishu", "delivery.dingtalk", "delivery.webhook"}
    assert "***" in by_stage["delivery.wecom_robot"]["data"]["reason"]  # the echo was there, masked
    for letter in letters:
        payload = letter["data"]["payload"]
        assert payload["schema"] == "exmail.notification/1" and "sso_links" not in str(payload)
        assert not is_masked(payload), "the routing record is replayable: delivery signs fresh links"
        assert letter["data"]["origin"]["topic"] == names.notifications
