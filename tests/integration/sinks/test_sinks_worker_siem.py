"""`pipeline worker` with a syslog SIEM sink against a real rsyslogd: raw records in Kafka end up as one parsed
RFC 5424 line each, after normalize, through the real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.records import RAW_SCHEMAS, raw_id

pytestmark = pytest.mark.integration
CORP = "wm0123456789abcdef"


def _mail(i: int) -> Envelope:
    rec = {"mailtype": 2, "sender": f"c{i}@partner.cn", "receiver": "service@example.com",
           "subject": f"咨询 {i}", "time": 1_764_000_000 + i, "status": 13}
    return Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec), corp_id=CORP,
                    source="mail_log", occurred_at=utc_iso(rec["time"]),
                    data={"record": rec, "context": {"date": "2025-11-24", "query_mailtype": 0}})


async def test_worker_syslog_sink_delivers_one_rfc5424_line_per_event_to_rsyslog(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path, rsyslog: Callable[..., object]) -> None:
    server = rsyslog(tls=False)
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    envs = [_mail(i) for i in range(60)]
    producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap))
    await producer.send_many((TopicNames(topic_prefix).raw("mail_log"), record_key(CORP, "service@example.com"), e)
                             for e in envs)
    producer.close()
    cfg = tmp_path / "pipeline.yaml"
    cfg.write_text(
        "worker:\n  siem:\n    - kind: syslog\n      name: rsys\n      host: 127.0.0.1\n"
        f"      port: {server.port}\n      transport: tcp\n      format: cef\n"  # type: ignore[attr-defined]
        "      batch:\n        max_age_seconds: 0.2\n")
    log = (tmp_path / "worker.log").open("wb")
    proc = subprocess.Popen(  # noqa: ASYNC220 - Popen returns at once; the worker runs on its own
        [sys.executable, "-m", "pipeline.cli", "worker", "--config", str(cfg), "--bootstrap", kafka_bootstrap,
         "--prefix", topic_prefix, "--app-id", f"{topic_prefix}siem", "--http-port", "0",
         "--agent", "normalize", "--agent", "siem"],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    try:
        lines = await server.wait_for_lines(60, within=90)  # type: ignore[attr-defined]
        await asyncio.sleep(1.0)
        lines = server.lines()  # type: ignore[attr-defined]
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
        log.close()
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")[-3000:]
    assert len(lines) == 60, worker_log
    assert all("CEF:0|Tencent|Exmail|" in line for line in lines)
    assert {e.id for e in envs} == {e.id for e in envs if any(e.id in line for line in lines)}
    assert rc == 0, worker_log
