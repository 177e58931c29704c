"""`pipeline worker --agent actions` against the simulator process and the real broker: an HR joiner becomes a
mailbox in the right (new) department, its record lands in exmail.actions, the password only in the secure
drop; replaying the same HR record changes nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml
from confluent_kafka import Consumer

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.sources.config import config_from_sim_credentials

pytestmark = pytest.mark.integration


def _hr(corp: str, request_id: str, userid: str) -> Envelope:
    return Envelope(schema="hr.lifecycle/1", id=fingerprint("hr", corp, request_id), corp_id=corp,
                    source="pipeline.sources.hr", occurred_at=utc_iso(),
                    data={"event": "joiner", "request_id": request_id, "employee_id": "E7001", "userid": userid,
                          "name": "Lin Qiao", "department_path": "Customer Success/Key Accounts",
                          "position": "Account manager", "mobile": None, "aliases": [], "effective_at": None})


def _actions_records(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chk-{time.monotonic_ns()}",
                  "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out: list[dict[str, Any]] = []
    end = time.monotonic() + 4
    while time.monotonic() < end:
        m = c.poll(0.3)
        if m is not None and not m.error():
            out.append(orjson.loads(m.value() or b"{}"))
    c.close()
    return out


def test_hr_joiner_through_the_worker_creates_the_mailbox_once(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, sim_process: dict[str, Any]) -> None:
    sim = sim_process
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    creds = tmp_path / "sim.json"
    creds.write_text(json.dumps({k: v for k, v in sim.items() if not k.startswith("_")}))
    ingest = config_from_sim_credentials(creds)
    drop = tmp_path / "passwords"
    cfg = {"ingest": {"corps": [c.model_dump(mode="json", exclude_none=True) for c in ingest.corps]},
           "actions": {"dry_run": False, "hr": {"create_departments": True,
                                                "delivery": {"type": "file", "dir": str(drop)}}}}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(cfg))
    userid = f"lin.qiao@{sim['domain']}"
    names = TopicNames(topic_prefix)
    record = _hr(sim["corp_id"], "req-1", userid)

    async def produce() -> None:
        p = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap))
        await p.send(names.hr_lifecycle, record, key=record_key(sim["corp_id"], "E7001"))
        p.close()

    asyncio.run(produce())
    log = tmp_path / "worker.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "worker", "--config", str(path), "--bootstrap", kafka_bootstrap,
         "--prefix", topic_prefix, "--app-id", f"{topic_prefix}actions", "--http-port", "0", "--agent", "actions"],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        directory: dict[str, Any] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            directory = httpx.get(f"{sim['admin_base']}state/directory", timeout=5).json()
            if any(u.get("userid") == userid for u in directory.get("users", [])):
                break
            time.sleep(0.5)
        asyncio.run(produce())  # the same HR record again: nothing changes
        time.sleep(4)
        again = httpx.get(f"{sim['admin_base']}state/directory", timeout=5).json()
        records = _actions_records(kafka_bootstrap, names.actions)
    finally:
        worker.send_signal(signal.SIGTERM)
        rc = worker.wait(60)
    text = log.read_text(errors="replace")[-3000:]
    users = [u for u in again.get("users", []) if u.get("userid") == userid]
    assert len(users) == 1, text
    paths = {d.get("name") for d in again.get("departments", [])}
    assert {"Customer Success", "Key Accounts"} <= paths
    assert again == directory
    statuses = [r["data"]["status"] for r in records]
    assert statuses.count("executed") == 1 and statuses.count("requested") == 1, statuses
    files = list(drop.iterdir())
    assert len(files) == 1
    password = orjson.loads(files[0].read_bytes())["password"]
    assert password not in json.dumps(records) and password not in text
    assert rc == 0, text
