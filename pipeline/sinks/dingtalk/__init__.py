"""DingTalk custom robot delivery sink."""

from pipeline.sinks.dingtalk.config import DingTalkConfig
from pipeline.sinks.dingtalk.signing import dingtalk_sign
from pipeline.sinks.dingtalk.sink import DingTalkSink

__all__ = ["DingTalkConfig", "DingTalkSink", "dingtalk_sign"]
