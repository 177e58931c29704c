"""Elasticsearch / OpenSearch sink configuration."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.secrets import SecretRef
from pipeline.sinks._batching import BatchConfig


class ElasticsearchSinkConfig(BaseModel):
    """`index` may be an index, an alias or a data stream (data streams accept only `create`, which is what the
    sink sends). Auth: `api_key` (the encoded key) or `username` + `password`, both as secret references."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: Literal["elasticsearch"] = "elasticsearch"

    url: str = Field(..., pattern=r"^https?://", description="cluster URL, e.g. https://es.internal:9200")
    index: str = Field("exmail-events", min_length=1)
    api_key: SecretRef | None = Field(None, description="secret reference to the encoded API key")
    username: str | None = None
    password: SecretRef | None = Field(None, description="secret reference to the password")
    pipeline: str | None = Field(None, description="ingest pipeline to run on every document")
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_seconds: float = Field(30.0, gt=0)
    batch: BatchConfig = Field(default_factory=lambda: BatchConfig(max_records=1000, max_bytes=5 * 1024 * 1024))

    @model_validator(mode="after")
    def _auth_pairs(self) -> ElasticsearchSinkConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        if self.api_key is not None and self.username is not None:
            raise ValueError("use api_key or username/password, not both")
        return self

    def tls(self) -> ssl.SSLContext | bool:
        if not self.verify_tls:
            return False
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
