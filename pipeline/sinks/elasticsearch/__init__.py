"""Elasticsearch / OpenSearch sink: `_bulk` with `create` and `_id` = event id (replays are harmless 409s)."""

from pipeline.sinks.elasticsearch.config import ElasticsearchSinkConfig
from pipeline.sinks.elasticsearch.sink import BulkRequestError, ElasticsearchSink, bulk_body, document

__all__ = ["BulkRequestError", "ElasticsearchSink", "ElasticsearchSinkConfig", "bulk_body", "document"]
