"""WeCom application message (message/send) delivery sink."""

from pipeline.sinks.wecom_app.config import WeComAppConfig
from pipeline.sinks.wecom_app.recipients import UserMapper
from pipeline.sinks.wecom_app.sink import WeComAppSink

__all__ = ["UserMapper", "WeComAppConfig", "WeComAppSink"]
