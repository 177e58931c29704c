"""WeCom group robot ("消息推送") delivery sink."""

from pipeline.sinks.wecom_robot.config import WeComRobotConfig
from pipeline.sinks.wecom_robot.sink import WeComRobotSink

__all__ = ["WeComRobotConfig", "WeComRobotSink"]
