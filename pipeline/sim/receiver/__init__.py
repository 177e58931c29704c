"""Simulated OA/webhook receiver and chat robots (DingTalk, Feishu), plus the Recorder and fault plan every
simulated destination shares. Mount: create_app at /receiver/, create_dingtalk_app at /dingtalk/,
create_feishu_app at /feishu/."""

from pipeline.sim.receiver.app import ReceiverEndpoint, ReceiverSimConfig, create_app
from pipeline.sim.receiver.chat_robots import (
    ChatRobot,
    DingTalkSimConfig,
    FeishuSimConfig,
    create_dingtalk_app,
    create_feishu_app,
)
from pipeline.sim.receiver.recording import (
    CONFIG_KEY,
    FAULTS_KEY,
    RECORDER_KEY,
    Fault,
    FaultPlan,
    Received,
    Recorder,
    ScrubbingAccessLogger,
)

__all__ = ["CONFIG_KEY", "FAULTS_KEY", "RECORDER_KEY", "ChatRobot", "DingTalkSimConfig", "Fault", "FaultPlan",
           "FeishuSimConfig", "Received", "ReceiverEndpoint", "ReceiverSimConfig", "Recorder",
           "ScrubbingAccessLogger",
           "create_app", "create_dingtalk_app", "create_feishu_app"]
