"""Syslog sink: RFC 5424 over TCP or TLS with octet-counted framing; MSG is the ECS JSON or a CEF record."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.syslog.config import SyslogSinkConfig
from pipeline.sinks.syslog.format import cef, octet_frame, rfc5424
from pipeline.sinks.syslog.sink import SyslogSink

SINK = SinkSpec("syslog", "siem", SyslogSinkConfig, SyslogSink, "RFC 5424 syslog over TCP/TLS (ECS JSON or CEF)")

__all__ = ["SINK", "SyslogSink", "SyslogSinkConfig", "cef", "octet_frame", "rfc5424"]
