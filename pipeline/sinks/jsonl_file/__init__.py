"""JSON-lines file sink: ECS documents one per line, size- and time-rotated, for Filebeat, Splunk's universal
forwarder or Vector to tail."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.jsonl_file.config import JsonlFileSinkConfig
from pipeline.sinks.jsonl_file.encoder import encode_line
from pipeline.sinks.jsonl_file.sink import JsonlFileSink, count_events

SINK = SinkSpec("jsonl_file", "siem", JsonlFileSinkConfig, JsonlFileSink, "rotated JSON-lines files for a log shipper")

__all__ = ["SINK", "JsonlFileSink", "JsonlFileSinkConfig", "count_events", "encode_line"]
