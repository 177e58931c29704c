"""JSON-lines file sink: one ECS document per line, rotation by size and age, no half lines, feed counting."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from pipeline.envelope import Envelope
from pipeline.sinks._batching import BatchConfig, BatchingLoop, RetriableSinkError
from pipeline.sinks.jsonl_file import JsonlFileSink, JsonlFileSinkConfig, count_events, encode_line
from pipeline.sinks.jsonl_file.sink import feed_files, rotated_files
from pipeline.sinks.registry import parse_siem

EventFactory = Callable[..., Envelope]


class Clock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_line_is_the_ecs_document_with_id_and_timestamp(audit_event: EventFactory) -> None:
    env = audit_event(1, extra={"email": {"subject": "line one\nline two"}})
    env.data.pop("@timestamp")
    line = encode_line(env)
    assert line.endswith(b"\n") and line.count(b"\n") == 1  # the newline in the subject is escaped
    doc = orjson.loads(line)
    assert doc["event"]["id"] == env.id and doc["@timestamp"] == env.occurred_at
    assert doc["email"]["subject"] == "line one\nline two" and doc["ocsf"]["class_uid"] == 3002


async def test_batches_append_and_every_event_is_one_line(tmp_path: Path, audit_event: EventFactory) -> None:
    cfg = JsonlFileSinkConfig(directory=tmp_path / "feed")
    sink = JsonlFileSink(cfg)
    events = [audit_event(i) for i in range(25)]
    loop = BatchingLoop.for_sender(sink, BatchConfig(max_records=10, max_age_seconds=60))
    async with loop:
        for env in events:
            await loop.put(env)
        await loop.flush()
    lines = (tmp_path / "feed" / "exmail-events.ndjson").read_bytes().splitlines()
    assert [orjson.loads(x)["event"]["id"] for x in lines] == [e.id for e in events]
    assert count_events(cfg) == (25, 25)


async def test_rotates_by_size_before_the_file_passes_the_limit(tmp_path: Path, audit_event: EventFactory) -> None:
    line_len = len(encode_line(audit_event(0)))
    cfg = JsonlFileSinkConfig(directory=tmp_path, rotate_bytes=max(1024, line_len * 5), rotate_seconds=None)
    clock = Clock()
    sink = JsonlFileSink(cfg, wall=clock)
    for i in range(0, 40, 2):
        clock.now += 1.0
        await sink.send([audit_event(i), audit_event(i + 1)])
    files = feed_files(cfg)
    assert len(files) > 2 and files[-1].name == "exmail-events.ndjson"
    assert all(f.stat().st_size <= cfg.rotate_bytes for f in files)
    ids = [orjson.loads(x)["event"]["id"] for f in files for x in f.read_bytes().splitlines()]
    assert ids == [audit_event(i).id for i in range(40)]  # oldest file first, nothing lost or repeated


async def test_rotates_by_age_at_the_next_write(tmp_path: Path, audit_event: EventFactory) -> None:
    cfg = JsonlFileSinkConfig(directory=tmp_path, rotate_seconds=60)
    clock = Clock()
    sink = JsonlFileSink(cfg, wall=clock)
    await sink.send([audit_event(0)])
    clock.now += 59
    await sink.send([audit_event(1)])
    assert rotated_files(cfg) == []
    clock.now += 1
    await sink.send([audit_event(2)])
    (rotated,) = rotated_files(cfg)
    assert len(rotated.read_bytes().splitlines()) == 2
    assert len(sink.active_path.read_bytes().splitlines()) == 1
    assert count_events(cfg) == (3, 3)


async def test_keep_files_prunes_the_oldest_rotated(tmp_path: Path, audit_event: EventFactory) -> None:
    cfg = JsonlFileSinkConfig(directory=tmp_path, rotate_seconds=10, keep_files=2)
    clock = Clock()
    sink = JsonlFileSink(cfg, wall=clock)
    for i in range(6):
        await sink.send([audit_event(i)])
        clock.now += 10
    kept = rotated_files(cfg)
    assert len(kept) == 2
    assert [orjson.loads(f.read_bytes())["event"]["id"] for f in kept] == [audit_event(3).id, audit_event(4).id]


async def test_a_failed_write_is_retriable_and_leaves_no_half_line(tmp_path: Path, audit_event: EventFactory,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = JsonlFileSinkConfig(directory=tmp_path)
    sink = JsonlFileSink(cfg)
    await sink.send([audit_event(0)])
    real_write = os.write

    def short_then_full(fd: int, data: bytes | memoryview) -> int:
        real_write(fd, bytes(data[:7]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", short_then_full)
    with pytest.raises(RetriableSinkError, match="No space left"):
        await sink.send([audit_event(1), audit_event(2)])
    monkeypatch.setattr(os, "write", real_write)
    assert count_events(cfg) == (1, 1)  # the partial write was cut back
    await sink.send([audit_event(1), audit_event(2)])
    assert count_events(cfg) == (3, 3)


def test_count_events_counts_duplicates_once(tmp_path: Path, audit_event: EventFactory) -> None:
    cfg = JsonlFileSinkConfig(directory=tmp_path)
    (tmp_path / "exmail-events.ndjson").write_bytes(encode_line(audit_event(0)) * 2 + encode_line(audit_event(1)))
    assert count_events(cfg) == (3, 2)
    (tmp_path / "exmail-events.ndjson").write_bytes(b"[1]\n")
    with pytest.raises(ValueError, match="not a JSON object"):
        count_events(cfg)


def test_registered_under_the_siem_kind_key(tmp_path: Path) -> None:
    (entry,) = parse_siem([{"kind": "jsonl_file", "name": "feed", "directory": str(tmp_path)}])
    assert (entry.name, entry.kind) == ("feed", "jsonl_file") and isinstance(entry.config, JsonlFileSinkConfig)
    assert isinstance(entry.build(), JsonlFileSink)
    with pytest.raises(ValueError, match=r"worker.siem\[0\].rotate_bytes"):
        parse_siem([{"kind": "jsonl_file", "directory": str(tmp_path), "rotate_bytes": 10}])
    with pytest.raises(ValidationError):
        JsonlFileSinkConfig(directory=tmp_path, basename="../escape")
