"""WeCom application message (message/send) delivery sink."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.wecom_app.config import WeComAppConfig
from pipeline.sinks.wecom_app.recipients import UserMapper
from pipeline.sinks.wecom_app.sink import WeComAppSink

SINK = SinkSpec("wecom_app", "receiver", WeComAppConfig, WeComAppSink, "WeCom application message to members")

__all__ = ["SINK", "UserMapper", "WeComAppConfig", "WeComAppSink"]
