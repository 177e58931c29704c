"""Elasticsearch config: credentials are secret references, never inline."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.sinks.elasticsearch import ElasticsearchSinkConfig


def test_an_inline_password_is_refused() -> None:
    with pytest.raises(ValidationError, match="secret reference"):
        ElasticsearchSinkConfig(url="https://es:9200", username="u", password="hunter2")
