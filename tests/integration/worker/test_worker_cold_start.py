"""The cold-start stall condition (issue 11): on a fresh cluster the first `bash ops/demo.sh` had its worker
normalize 1,522 records in the first seconds and then nothing for 150 s. What a cold start does in those
seconds: the consumers subscribe before (some of) their topics exist, the topics appear while they are
subscribed, records start flowing at once, and the group rebalances several times as members and partitions
come and go (faust-streaming/faust#629 and #523: consumers that stop fetching after such a rebalance).

This test puts the real worker (normalize, a batch consumer; rules, a faust agent, in the same process)
through all of it at once, against the real broker, while records flow: it starts before any topic exists,
ingest's topic creation runs under it, a second worker joins the group and leaves it again, and both the raw
topic and exmail.events grow from 3 to 6 partitions under the subscribed consumers. Every record must come out
of normalize exactly once, both groups (the batch unit's and the faust app's) must commit to the end, and
/healthz must name no stalled partition.

Before the fix (at e9e5fa4) this failed the way the first demo did: normalize landed every record, and the
faust agent had consumed none of exmail.events (group lag 3000) because its consumer had subscribed while the
topic was missing and logged "Ignoring missing topic" on every later rebalance too: aiokafka refreshes a
subscription's metadata every 5 minutes. The worker now creates its topics before subscribing and faust's
consumer refreshes metadata every 30 s (pipeline/worker/main.py ensure_worker_topics, app.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import AdminClient, NewPartitions

from pipeline.envelope import Envelope, record_key
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.offsets import OffsetProbe
from tests.integration._waiting import until

from .conftest import WorkerProcess, _consume_all, free_port
from .test_worker_scaleout import CORP, _owned, _raw_mail

pytestmark = pytest.mark.integration
RECORDS = 3000
CHUNKS = 30


def _flow(bootstrap: str, topic: str, envs: list[Envelope], started: threading.Event) -> None:
    """Records arrive in chunks over several seconds, as a first poll of the day's logs does."""

    async def go() -> None:
        p = EventProducer(KafkaSettings(bootstrap=bootstrap))
        size = len(envs) // CHUNKS
        for i in range(0, len(envs), size):
            await p.send_many((topic, record_key(CORP, e.data["record"]["sender"]), e) for e in envs[i:i + size])
            started.set()
            await asyncio.sleep(0.3)
        assert p.close() == 0

    asyncio.run(go())


def test_cold_start_topics_created_under_subscribed_consumers_and_rebalances_lose_nothing(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    names = TopicNames(topic_prefix)
    app_id = f"{topic_prefix}worker"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert not [t for t in admin.list_topics(timeout=10).topics if t.startswith(topic_prefix)]
    env = dict(os.environ, EXMAIL_STATE_DIR=str(tmp_path / "state"))
    port = free_port()
    config = tmp_path / "pipeline.yaml"
    config.write_text("kafka:\n  partitions: 3\n")

    def worker(name: str, http_port: int) -> WorkerProcess:
        w = WorkerProcess(["--config", str(config), "--bootstrap", kafka_bootstrap, "--prefix", topic_prefix,
                           "--app-id", app_id, "--http-port", str(http_port), "--agent", "normalize",
                           "--agent", "rules", "--loglevel", "INFO"], tmp_path / f"{name}.log", env)
        w.start()
        return w

    first = worker("first", port)
    second: WorkerProcess | None = None
    http = httpx.Client(timeout=3)
    alive = lambda: first.proc is not None and first.proc.poll() is None  # noqa: E731
    try:
        # 1. the worker is up before any topic exists (its consumers subscribe to topics that are not there)
        def health() -> tuple[int, dict]:
            try:
                r = http.get(f"http://127.0.0.1:{port}/healthz")
                return r.status_code, r.json()
            except (httpx.HTTPError, ValueError):
                return 0, {}

        assert until(lambda: health()[0] == 200, 90, alive), first.log()
        topics = set(admin.list_topics(timeout=10).topics)
        assert {names.raw("mail_log"), names.events} <= topics  # the worker created what it reads

        # 2. ingest's topic creation runs under the subscribed consumers and records flow at once
        ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
        envs = _raw_mail(RECORDS)
        flowing = threading.Event()
        producer = threading.Thread(target=_flow, args=(kafka_bootstrap, names.raw("mail_log"), envs, flowing))
        producer.start()
        assert flowing.wait(60)

        # 3. while they flow: a second member joins (rebalance), the raw topic grows (rebalance), it leaves
        second = worker("second", free_port())
        joined = lambda: second is not None and bool(_owned(second.log_path.read_text(errors="replace"),  # noqa: E731
                                                             "normalize"))
        assert until(joined, 90, alive), second.log()
        grown = admin.create_partitions([NewPartitions(t, 6) for t in (names.raw("mail_log"), names.events)])
        for fut in grown.values():
            fut.result(30)
        assert second.stop(signal.SIGTERM) == 0, second.log()
        producer.join(120)
        assert not producer.is_alive()

        # every record comes out of normalize exactly once
        events = _consume_all(kafka_bootstrap, names.events, RECORDS, timeout=120, alive=alive)
        ids = [e["id"] for e in events]
        assert len(ids) == len(set(ids)) == RECORDS, (len(ids), len(set(ids)), first.log())

        # both groups commit to the end: the batch unit (normalize) and the faust app's group (rules)
        probe = OffsetProbe(kafka_bootstrap, 10.0)
        try:
            raw = [names.raw("mail_log")]
            assert len(probe.partitions([names.events])) == 6
            settled = until(lambda: not sum(probe.group_lag(f"{app_id}.normalize", raw).values())
                             and not sum(probe.group_lag(app_id, [names.events]).values()), 150, alive)
            assert settled, (probe.group_lag(f"{app_id}.normalize", raw), probe.group_lag(app_id, [names.events]),
                             first.log())
        finally:
            probe.close()

        # the rebalances did happen (the first member was assigned again after each), and nothing is stalled
        log = first.log_path.read_text(errors="replace")
        assert log.count("normalize: assigned") >= 3, log[-4000:]
        assert "STALLED" not in log, log[-4000:]
        code, body = health()
        assert code == 200 and not body.get("stalled"), body
        assert first.stop() == 0, first.log()
    finally:
        http.close()
        for w in (first, second):
            if w is not None and w.proc is not None and w.proc.poll() is None:
                w.stop(signal.SIGKILL, timeout=10)
        stale = [t for t in admin.list_topics(timeout=10).topics if t.startswith(topic_prefix) or
                 t.startswith(app_id)]
        if stale:
            for fut in admin.delete_topics(stale, operation_timeout=30).values():
                fut.exception()
