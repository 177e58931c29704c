"""Syslog (RFC 5424) sink configuration."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline import __version__
from pipeline.secrets import SecretRef, resolve_secret
from pipeline.sinks._batching import BatchConfig


class SyslogSinkConfig(BaseModel):
    """RFC 5424 messages, octet-counted (RFC 5425 / RFC 6587 §3.4.1), over plain TCP or TLS.

    `sd_id` names the structured-data element; the default uses 32473, the private enterprise number RFC 5612
    reserves for documentation: replace it with your organisation's number in production."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kind: Literal["syslog"] = "syslog"

    host: str = Field(..., min_length=1)
    port: int = Field(6514, ge=1, le=65535)
    transport: Literal["tcp", "tls"] = "tls"
    format: Literal["json", "cef"] = "json"
    facility: int = Field(13, ge=0, le=23, description="13 = log audit; 10 = authpriv; 16..23 = local0..7")
    hostname: str | None = Field(None, description="HOSTNAME field; default: this machine's name")
    app_name: str = Field("exmail-pipeline", min_length=1, max_length=48)
    sd_id: str = Field("exmail@32473", pattern=r"^[!#-<>-Z\\^-~]{1,32}$")
    max_message_bytes: int = Field(8192, ge=480, description="longer messages are truncated (flagged in SD)")
    ca_file: Path | None = Field(None, description="CA bundle to verify the receiver; default: system store")
    cert_file: Path | None = Field(None, description="client certificate (PEM) for mutual TLS")
    key_file: Path | None = Field(None, description="client key (PEM) for mutual TLS")
    key_password: SecretRef | None = Field(None, description="secret reference to the client key's passphrase")
    server_name: str | None = Field(None, description="TLS server name to verify; default: host")
    verify_tls: bool = True
    connect_timeout_seconds: float = Field(10.0, gt=0)
    write_timeout_seconds: float = Field(30.0, gt=0)
    cef_vendor: str = "Tencent"
    cef_product: str = "Exmail"
    cef_version: str = __version__
    batch: BatchConfig = Field(default_factory=lambda: BatchConfig(max_records=500, max_bytes=1024 * 1024))

    @model_validator(mode="after")
    def _tls_fields(self) -> SyslogSinkConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        if self.transport == "tcp" and (self.cert_file or self.ca_file):
            raise ValueError("ca_file/cert_file need transport: tls")
        return self

    def ssl_context(self, resolve: Callable[[str], str] = resolve_secret) -> ssl.SSLContext | None:
        if self.transport != "tls":
            return None
        ctx = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if not self.verify_tls:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if self.cert_file is not None and self.key_file is not None:
            password = resolve(self.key_password) if self.key_password else None
            ctx.load_cert_chain(str(self.cert_file), str(self.key_file), password=password)
        return ctx
