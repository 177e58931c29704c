"""`pipeline replay` against the real broker: which dead letters it reads (all, or from `--since` on), and a
DLQ record that is not an envelope is reported, not silently passed over."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import datetime

import pytest

from pipeline.dlq import DeadLetters, Origin
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames

pytestmark = pytest.mark.integration


def _produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes]]) -> None:
    async def go() -> None:
        producer = EventProducer(KafkaSettings(bootstrap=bootstrap))
        await producer.send_many(records)
        producer.close()

    asyncio.run(go())


def _letters(names: TopicNames, first: int, count: int) -> list[tuple[str, bytes | None, bytes]]:
    letters = DeadLetters(names.dlq)
    return [letters.letter(stage="normalize", reason=f"bad record {i}", origin=Origin(names.raw("mail_log"), 0, i),
                           payload={"n": i}) for i in range(first, first + count)]


def _replay(bootstrap: str, prefix: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "replay", "--bootstrap", bootstrap,
                           "--prefix", prefix, "--dry-run", *extra], capture_output=True, text=True, timeout=120)


def test_replay_reads_every_letter_or_those_since_a_time_and_reports_unreadable_records(
        kafka_bootstrap: str, topic_prefix: str) -> None:
    names = TopicNames(topic_prefix)
    _produce(kafka_bootstrap, [*_letters(names, 0, 3), (names.dlq, None, b"not an envelope")])
    since = int(time.time()) + 1  # --since takes whole seconds: the later letters are written after it
    while time.time() < since + 0.2:
        time.sleep(0.05)
    _produce(kafka_bootstrap, _letters(names, 3, 2))

    everything = _replay(kafka_bootstrap, topic_prefix)
    assert everything.returncode == 0, everything.stderr
    assert "5 matched, would re-inject 5" in everything.stderr
    assert "1 record(s) are not envelopes and were skipped" in everything.stderr, everything.stderr
    listed = [line for line in everything.stdout.splitlines() if line.startswith("{")]
    assert len(listed) == 5

    stamp = datetime.fromtimestamp(since).strftime("%Y-%m-%dT%H:%M:%S")  # click.DateTime: local time
    later = _replay(kafka_bootstrap, topic_prefix, "--since", stamp)
    assert later.returncode == 0, later.stderr
    assert "2 matched, would re-inject 2" in later.stderr, later.stderr
    assert "bad record 3" in later.stdout and "bad record 4" in later.stdout
    assert "bad record 0" not in later.stdout
    assert "not envelopes" not in later.stderr, "the unreadable record is before --since"

    future = datetime.fromtimestamp(time.time() + 3600).strftime("%Y-%m-%dT%H:%M:%S")
    none = _replay(kafka_bootstrap, topic_prefix, "--since", future)
    assert none.returncode == 0, none.stderr
    assert "0 matched" in none.stderr
