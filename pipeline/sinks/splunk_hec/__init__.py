"""Splunk HEC sink: /services/collector/event with token auth, batching and optional indexer acknowledgement."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.splunk_hec.config import SplunkHecSinkConfig
from pipeline.sinks.splunk_hec.sink import HecRequestError, SplunkHecSink, hec_event

SINK = SinkSpec("splunk_hec", "siem", SplunkHecSinkConfig, SplunkHecSink, "Splunk HTTP Event Collector")

__all__ = ["SINK", "HecRequestError", "SplunkHecSink", "SplunkHecSinkConfig", "hec_event"]
