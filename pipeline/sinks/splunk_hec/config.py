"""Splunk HTTP Event Collector sink configuration."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.secrets import SecretRef
from pipeline.sinks._batching import BatchConfig


class SplunkHecSinkConfig(BaseModel):
    """`token` is a secret reference. With `use_ack` (indexer acknowledgement, Splunk Enterprise only) a batch
    counts as durable when Splunk reports it indexed, not merely accepted."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: Literal["splunk_hec"] = "splunk_hec"

    url: str = Field(..., pattern=r"^https?://", description="HEC base URL, e.g. https://splunk.internal:8088")
    token: SecretRef = Field(..., description="secret reference to the HEC token")
    index: str | None = None
    sourcetype: str = "exmail:event"
    source: str = "exmail-pipeline"
    host: str | None = Field(None, description="HEC `host` field; default: this machine's name")
    use_ack: bool = False
    channel: str | None = Field(None, description="request channel GUID; default: a new one per process")
    ack_timeout_seconds: float = Field(60.0, gt=0)
    ack_poll_seconds: float = Field(0.5, gt=0, description="first wait between ack polls (doubles up to 5 s)")
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_seconds: float = Field(30.0, gt=0)
    batch: BatchConfig = Field(default_factory=lambda: BatchConfig(max_records=500, max_bytes=1024 * 1024))

    def tls(self) -> ssl.SSLContext | bool:
        if not self.verify_tls:
            return False
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else True
