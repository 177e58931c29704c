"""Splunk HEC sink: /services/collector/event with token auth, batching and optional indexer acknowledgement."""

from pipeline.sinks.splunk_hec.config import SplunkHecSinkConfig
from pipeline.sinks.splunk_hec.sink import HecRequestError, SplunkHecSink, hec_event

__all__ = ["HecRequestError", "SplunkHecSink", "SplunkHecSinkConfig", "hec_event"]
