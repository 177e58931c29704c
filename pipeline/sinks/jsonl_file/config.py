"""JSON-lines file sink configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.sinks._batching import BatchConfig


class JsonlFileSinkConfig(BaseModel):
    """Where the feed is written and when the active file is rotated.

    The active file is `<directory>/<basename>.ndjson`; rotation renames it to
    `<basename>-<UTC yyyymmddTHHMMSS>[-n].ndjson` and starts a new one (the rename-and-create pattern that
    Filebeat's `filestream`, Splunk's `monitor://` and Vector's `file` source follow by inode)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["jsonl_file"] = "jsonl_file"

    directory: Path = Field(..., description="created when missing")
    basename: str = Field("exmail-events", pattern=r"^[A-Za-z0-9._-]{1,100}$")
    rotate_bytes: int = Field(100 * 1024 * 1024, ge=1024, description="rotate before the file would pass this size")
    rotate_seconds: float | None = Field(3600.0, gt=0, description="rotate a file this old at the next write; "
                                                                   "None: size only")
    keep_files: int | None = Field(None, ge=1, description="rotated files kept (oldest deleted); None keeps all "
                                                            "(the forwarder may not have read them yet)")
    fsync: bool = Field(True, description="fsync each batch before it counts as written (and is acked)")
    batch: BatchConfig = Field(default_factory=lambda: BatchConfig(max_records=1000, max_bytes=4 * 1024 * 1024))
