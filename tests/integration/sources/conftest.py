"""Integration fixtures for sources: the simulator over TCP, an ingest config for it, topic readers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.kafka.reader import scan
from pipeline.sim import SimConfig, run_simulator
from pipeline.sources.config import IngestConfig, config_from_sim_credentials

DAY = "2026-03-09"  # the simulated day of traffic
TODAY = "2026-03-10"


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    """A frozen-clock simulator at TODAY 01:00 Beijing, 200 users, no background traffic."""
    config = SimConfig(users=200, seed=11, speed=0, start=f"{TODAY}T01:00:00+08:00",
                       traffic={"enabled": False})
    async with run_simulator(config) as handle:
        yield handle


@pytest.fixture
def make_config(tmp_path: Path, kafka_bootstrap: str, topic_prefix: str) -> Callable[..., IngestConfig]:
    """make_config(handle, **poll_overrides) -> IngestConfig for this simulator, fast client settings."""

    def build(handle: Any, streams: list[str] | None = None, **poll: Any) -> IngestConfig:
        path = tmp_path / "sim-credentials.json"
        path.write_bytes(orjson.dumps(handle.credentials))
        base = config_from_sim_credentials(path)
        corp = base.corps[0].model_dump()
        corp["client"] = {"corp_rate": 400, "corp_burst": 400, "app_rate": 400, "app_burst": 400,
                          "per_user_concurrency": 16, "base_delay_seconds": 0.02, "max_delay_seconds": 0.2,
                          "max_attempts": 6}
        if streams is not None:
            corp["streams"] = streams
        poll_cfg = {"lag_seconds": 6 * 3600, "backfill_days": 1, "error_backoff_initial_seconds": 0.05,
                    "error_backoff_max_seconds": 0.2, **poll}
        return IngestConfig.model_validate({
            "corps": [corp], "poll": poll_cfg, "clock": base.clock.model_dump(),
            "kafka": {"bootstrap": kafka_bootstrap, "topic_prefix": topic_prefix, "partitions": 3},
            "http": {"host": "127.0.0.1", "port": 0}, "shutdown_grace_seconds": 5,
        })

    return build


def _read(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    scan(bootstrap, topic, lambda _k, v: out.append(orjson.loads(v)) if v is not None else None)
    return out


@pytest.fixture
def read_topic(kafka_bootstrap: str) -> Callable[[str], Awaitable[list[dict[str, Any]]]]:
    """await read_topic(full_topic_name) -> every envelope in it (from the earliest offset)."""

    async def read(topic: str) -> list[dict[str, Any]]:
        return await asyncio.to_thread(_read, kafka_bootstrap, topic)

    return read


@pytest.fixture
def day() -> str:
    return DAY


@pytest.fixture
def today() -> str:
    return TODAY


@pytest.fixture(scope="session")
def validate_raw() -> Callable[[dict[str, Any]], None]:
    """validate_raw(envelope): checks it against its JSON Schema in schemas/ (chosen by its `schema`)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    root = Path(__file__).resolve().parents[3] / "schemas"
    resources = []
    by_title: dict[str, dict[str, Any]] = {}
    for path in root.rglob("*.json"):
        doc = orjson.loads(path.read_bytes())
        if isinstance(doc, dict) and "$id" in doc:
            resources.append((doc["$id"], Resource.from_contents(doc)))
            by_title[str(doc.get("title", doc["$id"]))] = doc
    registry: Registry[Any] = Registry().with_resources(resources)

    def check(envelope: dict[str, Any]) -> None:
        Draft202012Validator(by_title[envelope["schema"]], registry=registry).validate(envelope)

    return check
