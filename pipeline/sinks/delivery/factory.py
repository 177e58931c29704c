"""Receiver sinks from config, through the sink registry (pipeline.sinks.registry, where every `kind` is listed).
Kept for the delivery runtime's imports."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from pipeline.sinks.registry import RECEIVER_CONFIG, build_receiver

SinkConfig = Any  # one of the receiver configs the registry lists (discriminated by `kind`)
SINK_CONFIG: TypeAdapter[Any] = RECEIVER_CONFIG
build_sink = build_receiver

__all__ = ["SINK_CONFIG", "SinkConfig", "build_sink"]
