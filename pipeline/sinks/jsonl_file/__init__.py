"""JSON-lines file sink: ECS documents one per line, size- and time-rotated, for Filebeat, Splunk's universal
forwarder or Vector to tail."""

from pipeline.sinks.jsonl_file.config import JsonlFileSinkConfig
from pipeline.sinks.jsonl_file.encoder import encode_line
from pipeline.sinks.jsonl_file.sink import JsonlFileSink, count_events

__all__ = ["JsonlFileSink", "JsonlFileSinkConfig", "count_events", "encode_line"]
