"""A real faust worker (subprocess, `faust -A ... worker`) against the real broker, fed by confluent-kafka.

Proves the stack facts the pipeline stands on: keys produced by confluent-kafka with murmur2_random land on the
partitions faust/aiokafka expect, and faust reads lz4 and zstd batches written by librdkafka.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import pytest
from aiokafka.partitioner import murmur2
from confluent_kafka import Consumer

from pipeline.kafka import EventProducer, KafkaSettings, ensure_topics
from pipeline.kafka.topics import TopicSpec

pytestmark = pytest.mark.integration
HERE = Path(__file__).resolve().parent


def _expected_partition(key: bytes, partitions: int) -> int:
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_faust_worker_consumes_confluent_records_on_murmur2_partitions_lz4_and_zstd(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    t_in, t_out = topic_prefix + "echo.in", topic_prefix + "echo.out"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(t_in, "k", partitions=4), TopicSpec(t_out, "k", partitions=4)))
    env = dict(os.environ, EXMAIL_KAFKA_BOOTSTRAP=kafka_bootstrap, EXMAIL_TEST_IN=t_in, EXMAIL_TEST_OUT=t_out,
               EXMAIL_TEST_APP_ID=f"echo-{uuid.uuid4().hex[:8]}", PYTHONPATH=str(HERE))
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "faust", "-A", "faust_echo_app", "--datadir", str(tmp_path / "faust"),
         "worker", "--without-web", "-l", "info"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        keys = [f"wmtest/user{i}@example.com".encode() for i in range(40)]
        delivered_partitions: dict[bytes, set[int]] = {}

        async def produce(compression: str, start: int) -> None:
            producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap, compression=compression))
            for i in range(start, start + 100):
                key = keys[i % len(keys)]
                d = await producer.send(t_in, orjson.dumps({"n": i, "codec": compression}), key=key)
                delivered_partitions.setdefault(key, set()).add(d.partition)
            assert producer.close() == 0

        asyncio.run(produce("lz4", 0))
        asyncio.run(produce("zstd", 100))

        consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": topic_prefix + "check",
                             "auto.offset.reset": "earliest"})
        consumer.subscribe([t_out])
        out: list[dict] = []
        deadline = time.monotonic() + 90
        while len(out) < 200 and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                out.append(orjson.loads(msg.value() or b"{}"))
            if worker.poll() is not None:
                break
        consumer.close()
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
        assert sorted(o["value"]["n"] for o in out) == list(range(200)), (tmp_path / "worker.log").read_text()[-3000:]
        assert {o["value"]["codec"] for o in out} == {"lz4", "zstd"}
        for o in out:
            key = o["key"].encode()
            assert o["in_partition"] == _expected_partition(key, 4)
            assert delivered_partitions[key] == {_expected_partition(key, 4)}
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            rc = worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            rc = worker.wait()
        log.close()
    assert rc == 0, (tmp_path / "worker.log").read_text()[-3000:]
