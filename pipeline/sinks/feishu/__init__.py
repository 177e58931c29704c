"""Feishu/Lark custom robot delivery sink."""

from pipeline.sinks.feishu.config import FeishuConfig
from pipeline.sinks.feishu.signing import feishu_sign
from pipeline.sinks.feishu.sink import FeishuSink

__all__ = ["FeishuConfig", "FeishuSink", "feishu_sign"]
