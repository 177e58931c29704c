"""The ingest HTTP side against the simulator and the real broker: callback pushes (verification, every valid
push one record, rejections), newcount polling correlated with pushes, HR intake, /metrics and /healthz."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from pipeline import metrics
from pipeline.exmail.crypto import MailEvent, WXBizMsgCrypt
from pipeline.ingest import Ingest
from pipeline.sources.config import HrSettings
from pipeline.sources.hr import sign

pytestmark = pytest.mark.integration


def rejected(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("exmail_callback_rejections_total", {"reason": reason}) or 0.0


async def test_callback_pushes_newcount_and_hr(sim: Any, make_config: Any, read_topic: Any, topic_prefix: str,
                                               today: str, tmp_path: Path, validate_raw: Any) -> None:
    await sim.admin.set_clock(f"{today}T10:00:00+08:00")
    secret_file = tmp_path / "hr.secret"
    secret_file.write_text("hr-secret-value")
    config = make_config(sim, streams=["newcount"])
    config = config.model_copy(update={"hr": HrSettings(hmac_secret=f"file:{secret_file}")})
    corp_cfg = config.corps[0]
    creds = sim.credentials
    service = creds["service_mailbox"]
    ingest = Ingest(config, clock=sim.sim.clock)
    try:
        await ingest.start(serve_http=True, pollers=False)
        base = ingest.http_url
        assert base is not None
        url = f"{base}{corp_cfg.callback_path}"
        registered = await sim.admin.register_callback(url=url, verify=True)
        assert registered["errcode"] == 0  # URL verification (GET echostr) passed

        corp = next(iter(ingest.corps.values()))
        newcount = corp.pollers["newcount"]
        await newcount.prepare()
        assert await newcount.run_once()  # baseline
        users = [u["userid"] for u in (await sim.admin.directory())["users"]
                 if u["enable"] == 1 and u["userid"] != service][:4]
        for i in range(3):
            await sim.admin.deliver_mail(service, subject=f"order {i}")
        for u in users:
            await sim.admin.deliver_mail(u, subject="hello")
        await sim.admin.read_mail(users[0])
        await sim.admin.advance(5)
        pushes = await sim.admin.pushes(wait=True, max_wait=15)
        assert len(pushes) == 3 + len(users) + 1
        assert {p["outcome"] for p in pushes} == {"delivered"}
        assert await newcount.run_once()

        records = await read_topic(f"{topic_prefix}exmail.raw.new_mail")
        for r in records:
            validate_raw(r)
        via_push = [r for r in records if r["data"]["via"] == "callback"]
        assert sorted(r["id"] for r in via_push) == sorted(p["id"] for p in pushes)  # one record per push
        polled = [r for r in records if r["data"]["via"] == "poll"]
        assert len(polled) == 1
        assert polled[0]["data"]["new_count"] == polled[0]["data"]["previous_count"] + 3
        pushed_keys = {r["data"]["correlation_key"] for r in via_push if r["data"]["userid"] == service}
        assert polled[0]["data"]["correlation_key"] in pushed_keys  # push and poll are recognisably one mail
        truth = {t["id"]: t for t in await sim.admin.truth("new_mail")}
        for r in via_push:
            assert truth[r["id"]]["correlation_key"] == r["data"]["correlation_key"]

        # rejections: each a 4xx with a metric, none reaching Kafka
        crypt = WXBizMsgCrypt(creds["callback_token"], creds["callback_aes_key"], creds["corp_id"])
        event = MailEvent(corp_id=creds["corp_id"], mail_id="cmVqZWN0ZWQ=", to_user_id=service,
                          from_user="x@y.com", title="t", time=int(time.time()), new_count=9)
        good = crypt.encrypt(event.to_xml(), timestamp=int(time.time()))
        stale = crypt.encrypt(event.to_xml(), timestamp=int(time.time()) - 3600)
        other = WXBizMsgCrypt(creds["callback_token"], creds["callback_aes_key"], "wwnotthiscorp00000")
        foreign = other.encrypt(event.to_xml(), timestamp=int(time.time()))

        def q(m: Any) -> dict[str, str]:
            return {"msg_signature": m.signature, "timestamp": m.timestamp, "nonce": m.nonce}

        cases = {
            "bad_signature": ({**q(good), "msg_signature": "0" * 40}, crypt.push_body(good), 403),
            "stale_timestamp": (q(stale), crypt.push_body(stale), 403),
            "wrong_corp_id": (q(foreign), other.push_body(foreign), 403),
            "malformed_xml": (q(good), "<xml><Encrypt>", 400),
            "body_too_large": (q(good), "<xml>" + "x" * 100_000 + "</xml>", 413),
        }
        async with httpx.AsyncClient() as http:
            for reason, (params, body, status) in cases.items():
                before = rejected(reason)
                resp = await http.post(url, params=params, content=body.encode())
                assert resp.status_code == status, (reason, resp.text)
                assert resp.text.startswith(reason)
                assert rejected(reason) == before + 1

            hr_body = orjson.dumps({"event": "joiner", "request_id": "r-1", "employee_id": "E1",
                                    "userid": "new.hire@corp.example.com", "department_path": "R&D"})
            stamp = str(int(time.time()))
            resp = await http.post(f"{base}/hr/lifecycle", content=hr_body, headers={
                "X-HR-Timestamp": stamp, "X-HR-Signature": sign(b"hr-secret-value", stamp, hr_body)})
            assert resp.status_code == 200, resp.text
            bad = await http.post(f"{base}/hr/lifecycle", content=hr_body, headers={
                "X-HR-Timestamp": stamp, "X-HR-Signature": "sha256=00"})
            assert bad.status_code == 401

            text = (await http.get(f"{base}/metrics")).text
            assert "exmail_callback_rejections_total" in text and "exmail_records_produced_total" in text
            assert creds["callback_token"] not in text and creds["secrets"]["system_log"] not in text
            health = await http.get(f"{base}/healthz")
            assert health.status_code in (200, 503) and "sources" in health.json()

        assert len(await read_topic(f"{topic_prefix}exmail.raw.new_mail")) == len(records)
        [hr] = await read_topic(f"{topic_prefix}hr.lifecycle")
        validate_raw(hr)
        assert hr["data"]["userid"] == "new.hire@corp.example.com"
    finally:
        await ingest.stop()
