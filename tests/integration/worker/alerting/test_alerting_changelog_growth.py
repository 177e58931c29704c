"""Adding partitions to exmail.events under the rules agent, against the real broker and a real worker.

faust writes the rule state of an event read from partition p to partition p of the table's changelog topic
(`<app_id>-alerting-rules-changelog`). Before the worker grew that topic itself, the first event on a partition
the changelog did not have crashed the faust app (aiokafka's `AssertionError('Unrecognized partition')` in
faust's ProducerBuffer); the cold-start test hit it whenever an event reached a new partition in time.

Here exmail.events grows from 3 to 6 partitions while the rules worker runs, and from 6 to 8 while it is
stopped. Events whose keys hash (murmur2, as the producers and faust partition) onto the new partitions must
raise their alerts, their rule state must be on the matching changelog partitions, and the worker must stay up
and stop cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
import yaml
from aiokafka.partitioner import murmur2
from confluent_kafka.admin import AdminClient, NewPartitions

from pipeline.envelope import Envelope, utc_iso
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.reader import scan, watermarks
from pipeline.records import RAW_SCHEMAS, raw_id
from pipeline.transforms.normalize import event_key, normalize
from tests.integration._waiting import until

from ..conftest import WorkerProcess, free_port

pytestmark = pytest.mark.integration
CORP = "wm0123456789abcdef"
THRESHOLD = 3  # failed sends by one user that raise send_failures_burst (the rule's state counts them)


def _failures(user: str, n: int = THRESHOLD) -> list[Envelope]:
    """n bounced sends by `user`, normalized the way the normalize agent writes them to exmail.events."""
    now = int(time.time())
    out = []
    for i in range(n):
        rec = {"mailtype": 1, "sender": user, "receiver": f"c{i}@partner.cn", "subject": f"bounce {i}",
               "time": now - i, "status": 2}
        raw = Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec, 0), corp_id=CORP,
                       source="mail_log", occurred_at=utc_iso(rec["time"]),
                       data={"record": rec, "context": {"date": "2025-11-24", "query_mailtype": 0}})
        out.append(normalize(raw))
    return out


def _partition(key: bytes, partitions: int) -> int:
    """The partition murmur2 puts `key` on (the EventProducer's murmur2_random and faust agree on it)."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def _user_on(partition: int, partitions: int, taken: set[str]) -> str:
    """A user whose exmail.events key lands on `partition` of `partitions`."""
    for i in range(10_000):
        user = f"bouncer{i}@example.com"
        if user not in taken and _partition(event_key(_failures(user, 1)[0]), partitions) == partition:
            taken.add(user)
            return user
    raise AssertionError(f"no user hashes to partition {partition} of {partitions}")


def _produce(bootstrap: str, topic: str, envs: list[Envelope]) -> None:
    async def go() -> None:
        p = EventProducer(KafkaSettings(bootstrap=bootstrap))  # a new producer: it sees every partition
        await p.send_many((topic, event_key(e), e) for e in envs)
        assert p.close() == 0

    asyncio.run(go())


def _grow(admin: AdminClient, topic: str, count: int) -> None:
    for fut in admin.create_partitions([NewPartitions(topic, count)]).values():
        fut.result(30)


def _records(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    got: list[tuple[bytes | None, bytes | None]] = []
    scan(bootstrap, topic, lambda k, v: got.append((k, v)))
    return got


def _alerted_users(bootstrap: str, topic: str) -> set[str]:
    users = set()
    for _, value in _records(bootstrap, topic):
        data = orjson.loads(value or b"{}")["data"]
        if data["labels"].get("alertname") == "send_failures_burst" and data["status"] == "firing":
            users.add(data["labels"]["user"])
    return users


def test_rules_worker_grows_its_changelog_when_exmail_events_grows_while_running_and_while_stopped(
        kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    names = TopicNames(topic_prefix)
    app_id = f"{topic_prefix}rules"
    changelog = f"{app_id}-alerting-rules-changelog"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    ensure_topics(kafka_bootstrap, prefix=topic_prefix, partitions=3)
    config = tmp_path / "pipeline.yaml"
    config.write_text(yaml.safe_dump({"kafka": {"partitions": 3},
                                      "alerting": {"rules": {"params": {"failed_send_threshold": THRESHOLD}}}}))
    env = dict(os.environ, EXMAIL_STATE_DIR=str(tmp_path / "state"))
    http = httpx.Client(timeout=3)
    workers: list[WorkerProcess] = []

    def start(name: str) -> tuple[WorkerProcess, Callable[[], bool]]:
        port = free_port()
        w = WorkerProcess(["--config", str(config), "--bootstrap", kafka_bootstrap, "--prefix", topic_prefix,
                           "--app-id", app_id, "--http-port", str(port), "--agent", "rules", "--loglevel", "INFO"],
                          tmp_path / f"{name}.log", env)
        w.start()
        workers.append(w)
        alive = lambda: w.proc is not None and w.proc.poll() is None  # noqa: E731

        def healthy() -> bool:
            try:
                return http.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        assert until(healthy, 90, alive), w.log()
        return w, alive

    taken: set[str] = set()
    try:
        # 1. a running rules worker with 3 partitions: state written to the changelog's partitions 0..2
        first, alive = start("first")
        old = [_user_on(p, 3, taken) for p in range(3)]
        _produce(kafka_bootstrap, names.events, [e for u in old for e in _failures(u)])
        assert until(lambda: set(old) <= _alerted_users(kafka_bootstrap, names.alerts), 90, alive), first.log()

        # 2. exmail.events grows to 6 under it; events land on partitions 3, 4 and 5 at once
        _grow(admin, names.events, 6)
        grown = {p: _user_on(p, 6, taken) for p in (3, 4, 5)}
        sent = {u: _failures(u) for u in grown.values()}
        _produce(kafka_bootstrap, names.events, [e for envs in sent.values() for e in envs])
        marks = watermarks(kafka_bootstrap, names.events)
        assert all(marks[p][1] == THRESHOLD for p in grown), marks  # they are on the new partitions
        # faust's consumer finds the new partitions at its next metadata refresh (30 s) and reads them
        assert until(lambda: set(grown.values()) <= _alerted_users(kafka_bootstrap, names.alerts), 120, alive), \
            first.log()
        assert alive(), first.log()

        # the rule state of those events is on the matching changelog partitions, with every failure counted
        # (at least once: transforms are at-least-once, and the rebalance the grown changelog causes may hand the
        # worker events again whose offsets it had not committed yet)
        marks = watermarks(kafka_bootstrap, changelog)
        assert len(marks) == 6 and all(marks[p][1] > 0 for p in grown), marks
        state = {k.decode(): orjson.loads(v) for k, v in _records(kafka_bootstrap, changelog) if k and v}
        for user, envs in sent.items():
            windows = [v for k, v in state.items() if k.startswith("r/send_failures_burst/") and k.endswith("/" + user)]
            assert len(windows) == 1, (user, windows)
            assert sum(c for _, c in windows[0]["b"]) >= THRESHOLD, (user, windows)
            assert {e.id for e in envs} <= set(windows[0]["i"]), (user, windows)
        log = first.log_path.read_text(errors="replace")
        assert f"grew {changelog} from 3 to 6 partitions" in log, log[-4000:]
        assert "We experienced a crash" not in log, log[-4000:]
        assert first.stop() == 0, first.log()

        # 3. exmail.events grows to 8 while no worker runs: the next worker grows the changelog before it reads
        _grow(admin, names.events, 8)
        late = {p: _user_on(p, 8, taken) for p in (6, 7)}
        _produce(kafka_bootstrap, names.events, [e for u in late.values() for e in _failures(u)])
        second, alive = start("second")
        assert until(lambda: set(late.values()) <= _alerted_users(kafka_bootstrap, names.alerts), 90, alive), \
            second.log()
        marks = watermarks(kafka_bootstrap, changelog)
        assert len(marks) == 8 and all(marks[p][1] > 0 for p in late), marks
        log = second.log_path.read_text(errors="replace")
        assert f"grew {changelog} from 6 to 8 partitions" in log, log[-4000:]
        assert second.stop() == 0, second.log()
    finally:
        http.close()
        for w in workers:
            if w.proc is not None and w.proc.poll() is None:
                w.stop(signal.SIGKILL, timeout=10)
        stale = [t for t in admin.list_topics(timeout=10).topics if t.startswith(topic_prefix)]
        if stale:
            for fut in admin.delete_topics(stale, operation_timeout=30).values():
                fut.exception()
