"""200 alerts for one WeCom robot within a minute, through the real broker and worker: every alert is delivered
(grouped, split into parts, paced), the robot never gets more than 20 messages in a minute, none is lost; with
45009 injected they all arrive, later."""

from __future__ import annotations

import importlib.util
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from pipeline.kafka import ensure_topics

pytestmark = pytest.mark.integration
_spec = importlib.util.spec_from_file_location("e2e", Path(__file__).with_name("test_alerting_worker_e2e.py"))
assert _spec is not None and _spec.loader is not None
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)


def _config(sim: dict[str, Any], path: Path) -> Path:
    cfg = yaml.safe_load(e2e.alerting_config(sim, path).read_text())
    route = cfg["alerting"]["routing"]["route"]
    route.update(group_by=["alertname"], group_wait="5s", group_interval="2m")
    cfg["alerting"]["routing"]["receivers"][0]["max_parts"] = 30
    path.write_text(yaml.safe_dump(cfg))
    return path


def _max_in_any_minute(times: list[float]) -> int:
    times = sorted(times)
    return max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)


@pytest.mark.parametrize("inject_45009", [False, True], ids=["plain", "with_45009"])
def test_200_alerts_for_one_robot_are_all_delivered_and_paced_to_20_per_minute(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, sim_process: dict[str, Any],
        robot_received: Callable[[dict[str, Any]], list[dict[str, Any]]], inject_45009: bool) -> None:
    sim = sim_process
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    if inject_45009:
        httpx.post(f"{sim['base_url']}/wecom/_sim/faults", json={
            "kind": "errcode", "endpoint": "robot_send", "count": 3, "errcode": 45009,
            "errmsg": "api freq out of limit"}, timeout=5).raise_for_status()
    corp = sim["corp_id"]
    senders = [f"buyer{i:03d}@customer{i % 7}.cn" for i in range(200)]
    e2e.produce(kafka_bootstrap, topic_prefix,
                [e2e.new_mail(corp, sim["service_mailbox"], s, f"Order {i}", i + 1) for i, s in enumerate(senders)])
    worker = e2e.start_worker(kafka_bootstrap, topic_prefix, _config(sim, tmp_path / "p.yaml"), tmp_path / "w.log",
                              "normalize", "alerting", "delivery")
    try:
        def all_seen() -> bool:
            text = " ".join(str(m) for m in robot_received(sim))
            return all(s in text for s in senders)

        assert e2e.wait_until(all_seen, 150), (tmp_path / "w.log").read_text()[-3000:]
        got = robot_received(sim)
        everything = httpx.get(f"{sim['base_url']}/wecom/_sim/received", timeout=5).json()
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(60)
    assert _max_in_any_minute([m["at"] for m in got]) <= 20
    rejected = [m for m in everything["received"] if m["outcome"] == "rejected"]
    assert len(rejected) == (3 if inject_45009 else 0), rejected
    for m in got:
        content = m["body"]["markdown"]["content"]
        assert len(content.encode()) <= 4096  # one group of 200 alerts arrives as numbered parts
    assert len(got) > 1
