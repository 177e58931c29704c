"""Syslog config: client certificate and key go together; certificates need transport tls."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.sinks.syslog import SyslogSinkConfig


def test_tls_settings_are_checked_together() -> None:
    with pytest.raises(ValidationError, match="go together"):
        SyslogSinkConfig(host="h", cert_file="/tmp/c.pem")
    with pytest.raises(ValidationError, match="need transport: tls"):
        SyslogSinkConfig(host="h", transport="tcp", ca_file="/tmp/ca.pem")
