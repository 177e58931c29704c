"""DingTalk custom robot delivery sink."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.dingtalk.config import DingTalkConfig
from pipeline.sinks.dingtalk.signing import dingtalk_sign
from pipeline.sinks.dingtalk.sink import DingTalkSink

SINK = SinkSpec("dingtalk", "receiver", DingTalkConfig, DingTalkSink, "DingTalk custom robot")

__all__ = ["SINK", "DingTalkConfig", "DingTalkSink", "dingtalk_sign"]
