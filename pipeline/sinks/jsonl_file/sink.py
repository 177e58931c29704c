"""JSON-lines file sink: one append + fsync per batch, rotation by size and age between batches.

A batch counts as written once it is on disk (fsync unless disabled), so offsets commit after that; a worker
that dies between the write and the commit re-reads the batch and the file holds those events twice, which
`event.id` identifies (Filebeat/Vector can drop duplicates by that field; `count_events` counts distinct ids).
A write that fails (disk full, permission) is retried with backoff, never dropped: the active file is
truncated back to its size before the failed write, so a half line never reaches the tailer.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import orjson

from pipeline.envelope import Envelope
from pipeline.sinks._batching import BatchOutcome, RetriableSinkError
from pipeline.sinks.jsonl_file.config import JsonlFileSinkConfig
from pipeline.sinks.jsonl_file.encoder import encode_line

log = logging.getLogger(__name__)


class JsonlFileSink:
    def __init__(self, config: JsonlFileSinkConfig, *, name: str = "jsonl_file",
                 wall: Callable[[], float] = time.time) -> None:
        self.name = name
        self.config = config
        self._wall = wall
        self._opened_at: float | None = None  # wall time the active file got its first line (this process)

    def __repr__(self) -> str:
        return f"JsonlFileSink(name={self.name!r}, {self.active_path})"

    @property
    def active_path(self) -> Path:
        return self.config.directory / f"{self.config.basename}.ndjson"

    def size_of(self, envelope: Envelope) -> int:
        return len(envelope.encode())

    async def send(self, batch: list[Envelope]) -> BatchOutcome[Envelope]:
        payload = b"".join(encode_line(env) for env in batch)
        try:
            await asyncio.to_thread(self._write, payload)
        except OSError as exc:
            raise RetriableSinkError(f"{self.active_path}: write failed: {exc.strerror or exc}",
                                     reason="write") from None
        return BatchOutcome()

    def _write(self, payload: bytes) -> None:
        c = self.config
        c.directory.mkdir(parents=True, exist_ok=True)
        self._rotate_if_due(len(payload))
        fd = os.open(self.active_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            before = os.fstat(fd).st_size
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view):]
                if c.fsync:
                    os.fsync(fd)
            except OSError:
                os.ftruncate(fd, before)  # no half line for the tailer; the whole batch is retried
                raise
        finally:
            os.close(fd)
        if self._opened_at is None:
            self._opened_at = self._wall()

    def _rotate_if_due(self, incoming: int) -> None:
        path, c = self.active_path, self.config
        try:
            st = path.stat()
        except FileNotFoundError:
            self._opened_at = None
            return
        if st.st_size == 0:
            return
        if self._opened_at is None:  # a file left by an earlier run: its age counts from its creation
            self._opened_at = min(st.st_mtime, st.st_ctime)
        too_big = st.st_size + incoming > c.rotate_bytes
        too_old = c.rotate_seconds is not None and self._wall() - self._opened_at >= c.rotate_seconds
        if not (too_big or too_old):
            return
        target = self._rotated_name()
        os.rename(path, target)
        self._opened_at = None
        log.info("%s: rotated %s to %s (%s)", self.name, path.name, target.name, "size" if too_big else "age")
        self._prune()

    def _rotated_name(self) -> Path:
        stamp = datetime.fromtimestamp(self._wall(), UTC).strftime("%Y%m%dT%H%M%S")
        for n in range(1000):
            candidate = self.config.directory / f"{self.config.basename}-{stamp}{f'-{n}' if n else ''}.ndjson"
            if not candidate.exists():
                return candidate
        raise OSError(f"no free rotated file name for {stamp}")

    def _prune(self) -> None:
        keep = self.config.keep_files
        if keep is None:
            return
        rotated = rotated_files(self.config)
        for old in rotated[:-keep]:
            old.unlink(missing_ok=True)

    async def close(self) -> None:
        return None


def rotated_files(config: JsonlFileSinkConfig) -> list[Path]:
    """The rotated files, oldest first (the UTC stamp in the name sorts by time)."""
    return sorted(config.directory.glob(f"{config.basename}-*.ndjson"))


def feed_files(config: JsonlFileSinkConfig) -> list[Path]:
    """Every file of the feed, oldest first: the rotated ones, then the active one."""
    active = config.directory / f"{config.basename}.ndjson"
    return [*rotated_files(config), *([active] if active.exists() else [])]


def _lines(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as fh:
            yield from (line for line in fh if line.strip())


def count_events(config: JsonlFileSinkConfig) -> tuple[int, int]:
    """(lines, distinct event.id) over the whole feed; raises ValueError on a line that is not a JSON object."""
    lines, ids = 0, set()
    for line in _lines(feed_files(config)):
        doc = orjson.loads(line)
        if not isinstance(doc, dict):
            raise ValueError(f"not a JSON object: {line[:80]!r}")
        lines += 1
        ids.add(str((doc.get("event") or {}).get("id")))
    return lines, len(ids)
