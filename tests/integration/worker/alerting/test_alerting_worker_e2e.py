"""Rules -> routing -> WeCom robot through the real broker, a real worker and the simulator's WeCom surface."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.records import RAW_SCHEMAS

pytestmark = pytest.mark.integration


def new_mail(corp: str, to: str, sender: str, subject: str, n: int) -> Envelope:
    mail_id = f"mail-{n}-{time.time_ns()}"
    return Envelope(schema=RAW_SCHEMAS["new_mail"], id=fingerprint("new_mail", corp, "Mail", mail_id), corp_id=corp,
                    source="callback", occurred_at=utc_iso(),
                    data={"via": "callback", "msg_type": "Mail", "userid": to, "mail_id": mail_id,
                          "from": f'"{sender}"<{sender}>', "subject": subject, "time": int(time.time()),
                          "new_count": n, "unread_count": None, "previous_count": None,
                          "correlation_key": fingerprint("new_mail", corp, to, n)})


def alerting_config(sim: dict[str, Any], path: Path, group_wait: str = "0s") -> Path:
    domain = sim["domain"]
    cfg = {
        "alerting": {
            "rules": {"params": {"cs_mailboxes": [sim["service_mailbox"]]}},
            "corp_domains": {sim["corp_id"]: [domain]},
            "routing": {
                "route": {"receiver": "cs-robot", "group_by": ["alertname", "user"], "group_wait": group_wait,
                          "group_interval": "1s", "repeat_interval": "4h"},
                "receivers": [{"name": "cs-robot", "kind": "wecom_robot", "key": "env:EXMAIL_TEST_ROBOT_KEY",
                               "base_url": f"{sim['base_url']}/wecom", "language": "en"}],
            },
        },
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_worker(bootstrap: str, prefix: str, config: Path, log: Path, *agents: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "pipeline.cli", "worker", "--config", str(config), "--bootstrap", bootstrap,
            "--prefix", prefix, "--app-id", f"{prefix}alerting", "--http-port", "0"]
    for a in agents:
        args += ["--agent", a]
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            env=dict(os.environ, EXMAIL_TEST_ROBOT_KEY="sim-robot-key"))


def produce(bootstrap: str, prefix: str, envs: list[Envelope]) -> None:
    topic = TopicNames(prefix).raw("new_mail")

    async def go() -> None:
        p = EventProducer(KafkaSettings(bootstrap=bootstrap))
        await p.send_many((topic, record_key(e.corp_id, e.data["userid"]), e) for e in envs)
        p.close()

    asyncio.run(go())


def wait_until(pred: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.2)
    return pred()


def test_new_mail_push_to_customer_service_mailbox_reaches_the_wecom_robot_as_one_message(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, sim_process: dict[str, Any],
        robot_received: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    sim = sim_process
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    cfg = alerting_config(sim, tmp_path / "pipeline.yaml")
    worker = start_worker(kafka_bootstrap, topic_prefix, cfg, tmp_path / "worker.log",
                          "normalize", "alerting", "delivery")
    try:
        corp = sim["corp_id"]
        produce(kafka_bootstrap, topic_prefix, [
            new_mail(corp, sim["service_mailbox"], "buyer@customer.cn", "Order 7731 delayed", 1),
            new_mail(corp, f"someone@{sim['domain']}", "buyer@customer.cn", "not for the CS box", 1),
            new_mail(corp, sim["service_mailbox"], f"colleague@{sim['domain']}", "internal note", 2),
        ])
        assert wait_until(lambda: len(robot_received(sim)) >= 1, 90), (tmp_path / "worker.log").read_text()[-4000:]
        time.sleep(3)
        got = robot_received(sim)
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-4000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        rc = worker.wait(60)
    assert len(got) == 1, got
    body = str(got[0])
    assert "buyer@customer.cn" in body and "Order 7731 delayed" in body
    assert rc == 0, (tmp_path / "worker.log").read_text()[-4000:]


def test_worker_killed_mid_group_wait_sends_the_group_once_after_restart(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, sim_process: dict[str, Any],
        robot_received: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> None:
    sim = sim_process
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    cfg = alerting_config(sim, tmp_path / "pipeline.yaml", group_wait="12s")
    first = start_worker(kafka_bootstrap, topic_prefix, cfg, tmp_path / "first.log", "normalize", "alerting",
                         "delivery")
    corp = sim["corp_id"]
    produce(kafka_bootstrap, topic_prefix,
            [new_mail(corp, sim["service_mailbox"], f"buyer{i}@customer.cn", f"Order {i}", i) for i in range(3)])
    time.sleep(6)  # the three alerts are waiting in their group (group_wait 12 s)
    assert robot_received(sim) == []
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    second = start_worker(kafka_bootstrap, topic_prefix, cfg, tmp_path / "second.log", "normalize", "alerting",
                          "delivery")
    try:
        assert wait_until(lambda: len(robot_received(sim)) >= 1, 60), (tmp_path / "second.log").read_text()[-4000:]
        time.sleep(4)
        got = robot_received(sim)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(60)
    assert len(got) == 1, got  # one group (grouped by alertname + user = the CS box): nothing lost, nothing twice
    bodies = " ".join(str(g) for g in got)
    assert all(f"buyer{i}@customer.cn" in bodies for i in range(3))
