"""The Exmail simulator: the /cgi-bin/ API of Tencent Exmail over a seeded synthetic company, a traffic
generator on a controllable clock, new-mail callback pushes, fault injection and ground truth.

Surfaces for WeCom/DingTalk/Feishu/OA receivers live in `pipeline.sim.wecom` / `pipeline.sim.receiver` and
are mounted when present. See README.md in this folder.
"""

from pipeline.sim._server import Simulator, SimulatorHandle, run_simulator
from pipeline.sim.client import SimAdminClient, SimAdminError
from pipeline.sim.clock import SimClock
from pipeline.sim.config import CallbackConfig, Choices, FaultRule, SimConfig, TrafficConfig

__all__ = [
    "CallbackConfig", "Choices", "FaultRule", "SimAdminClient", "SimAdminError", "SimClock", "SimConfig",
    "Simulator", "SimulatorHandle", "TrafficConfig", "run_simulator",
]
