"""Feishu/Lark custom robot delivery sink."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.feishu.config import FeishuConfig
from pipeline.sinks.feishu.signing import feishu_sign
from pipeline.sinks.feishu.sink import FeishuSink

SINK = SinkSpec("feishu", "receiver", FeishuConfig, FeishuSink, "Feishu/Lark custom robot")

__all__ = ["SINK", "FeishuConfig", "FeishuSink", "feishu_sign"]
