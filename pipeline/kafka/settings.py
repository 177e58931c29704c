"""Where the broker is: config, then EXMAIL_KAFKA_BOOTSTRAP, then the env file ops/kafka/kafka.sh writes."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_BOOTSTRAP = "127.0.0.1:19092"


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def state_dir() -> Path:
    return Path(os.environ.get("EXMAIL_STATE_DIR", _repo_root() / ".state"))


def bootstrap_from_env() -> str:
    env = os.environ.get("EXMAIL_KAFKA_BOOTSTRAP")
    if env:
        return env
    envfile = state_dir() / "kafka" / "env"
    if envfile.is_file():
        for line in envfile.read_text().splitlines():
            if line.startswith("EXMAIL_KAFKA_BOOTSTRAP="):
                return line.split("=", 1)[1].strip()
    return DEFAULT_BOOTSTRAP


class KafkaSettings(BaseModel):
    """Connection settings shared by producers, admin and the faust app."""

    model_config = ConfigDict(extra="forbid")

    bootstrap: str = Field(default_factory=bootstrap_from_env, description="host:port[,host:port]")
    topic_prefix: str = Field("", description="prepended to every topic name (isolates tests and tenants)")
    partitions: int = Field(6, ge=1, description="partitions for event topics; the unit of parallelism")
    replication_factor: int = Field(1, ge=1)
    compression: str = Field("lz4", pattern="^(none|gzip|snappy|lz4|zstd)$")
    linger_ms: int = Field(5, ge=0)
    client_id: str = "exmail-pipeline"
