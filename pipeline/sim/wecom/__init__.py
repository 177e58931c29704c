"""Simulated WeCom (application messages and group robots) for tests and `pipeline sim`."""

from pipeline.sim.receiver.recording import CONFIG_KEY, FAULTS_KEY, RECORDER_KEY, Fault, FaultPlan, Recorder
from pipeline.sim.wecom.app import STATE_KEY, WeComState, create_app
from pipeline.sim.wecom.config import SimApp, SimRobot, WeComSimConfig

__all__ = ["CONFIG_KEY", "FAULTS_KEY", "RECORDER_KEY", "STATE_KEY", "Fault", "FaultPlan", "Recorder", "SimApp",
           "SimRobot", "WeComSimConfig", "WeComState", "create_app"]
