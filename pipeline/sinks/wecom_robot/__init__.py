"""WeCom group robot ("消息推送") delivery sink."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.wecom_robot.config import WeComRobotConfig
from pipeline.sinks.wecom_robot.sink import WeComRobotSink

SINK = SinkSpec("wecom_robot", "receiver", WeComRobotConfig, WeComRobotSink, "WeCom group robot (webhook key)")

__all__ = ["SINK", "WeComRobotConfig", "WeComRobotSink"]
