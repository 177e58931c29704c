"""Server-Sent Events for custom clients: Kafka topics streamed over GET /stream, filtered by query and
resumable from Last-Event-ID (the Kafka offsets already delivered). See README.md."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.sse.config import SseConfig
from pipeline.sinks.sse.server import create_sse_app, sse_credentials

SINK = SinkSpec("sse", "stream", SseConfig, create_sse_app, "Server-Sent Events at /sse/stream")

__all__ = ["SINK", "SseConfig", "create_sse_app", "sse_credentials"]
