"""Elasticsearch / OpenSearch sink: `_bulk` with `create` and `_id` = event id (replays are harmless 409s)."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.elasticsearch.config import ElasticsearchSinkConfig
from pipeline.sinks.elasticsearch.sink import BulkRequestError, ElasticsearchSink, bulk_body, document

SINK = SinkSpec("elasticsearch", "siem", ElasticsearchSinkConfig, ElasticsearchSink, "Elasticsearch/OpenSearch _bulk")

__all__ = ["SINK", "BulkRequestError", "ElasticsearchSink", "ElasticsearchSinkConfig", "bulk_body", "document"]
