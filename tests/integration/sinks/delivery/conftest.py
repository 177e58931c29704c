"""Every simulated destination mounted in one aiohttp server on 127.0.0.1 (as `pipeline sim` mounts them:
/wecom/, /dingtalk/, /feishu/, /receiver/), all on one manual clock shared with the sinks under test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web

from pipeline.clock import ManualClock
from pipeline.sim.receiver import (
    ChatRobot,
    DingTalkSimConfig,
    FeishuSimConfig,
    ReceiverEndpoint,
    ReceiverSimConfig,
    ScrubbingAccessLogger,
    create_dingtalk_app,
    create_feishu_app,
)
from pipeline.sim.receiver import create_app as create_receiver_app
from pipeline.sim.receiver.recording import FAULTS_KEY, RECORDER_KEY, Fault, Recorder
from pipeline.sim.wecom import SimApp, SimRobot, WeComSimConfig
from pipeline.sim.wecom import create_app as create_wecom_app
from pipeline.sinks.dingtalk import DingTalkConfig
from pipeline.sinks.feishu import FeishuConfig
from pipeline.sinks.webhook import WebhookConfig
from pipeline.sinks.wecom_app import WeComAppConfig
from pipeline.sinks.wecom_robot import WeComRobotConfig

ROBOT_KEY = "it-robot-key-5f1c"
APP_SECRET = "it-app-secret-9a7b"
OA_SECRET = "it-oa-hmac-secret"
DT_TOKEN, DT_SECRET = "it-dt-token", "SECit-dt-secret"
FS_TOKEN, FS_SECRET = "it-fs-token", "it-fs-secret"
CORP = "wwitcorp"
AGENT = 1000002


@dataclass
class Sims:
    base: str
    clock: ManualClock
    wecom: web.Application
    dingtalk: web.Application
    feishu: web.Application
    receiver: web.Application

    def url(self, prefix: str) -> str:
        return f"{self.base}/{prefix}"

    def robot_config(self, **overrides: Any) -> WeComRobotConfig:
        fields: dict[str, Any] = {"name": "ops-robot", "key": ROBOT_KEY, "base_url": self.url("wecom")}
        return WeComRobotConfig(**{**fields, **overrides})

    def app_config(self, **overrides: Any) -> WeComAppConfig:
        fields: dict[str, Any] = {"name": "ops-app", "corp_id": CORP, "agent_id": AGENT, "secret": APP_SECRET,
                                  "base_url": self.url("wecom")}
        return WeComAppConfig(**{**fields, **overrides})

    def webhook_config(self, **overrides: Any) -> WebhookConfig:
        fields: dict[str, Any] = {"name": "oa", "url": self.url("receiver/oa/alerts"), "secret": OA_SECRET}
        return WebhookConfig(**{**fields, **overrides})

    def dingtalk_config(self, **overrides: Any) -> DingTalkConfig:
        fields: dict[str, Any] = {"name": "dt", "access_token": DT_TOKEN, "secret": DT_SECRET,
                                  "base_url": self.url("dingtalk")}
        return DingTalkConfig(**{**fields, **overrides})

    def feishu_config(self, **overrides: Any) -> FeishuConfig:
        fields: dict[str, Any] = {"name": "fs", "hook_token": FS_TOKEN, "secret": FS_SECRET,
                                  "base_url": self.url("feishu")}
        return FeishuConfig(**{**fields, **overrides})

    @staticmethod
    def recorder(app: web.Application) -> Recorder:
        return app[RECORDER_KEY]

    @staticmethod
    def fault(app: web.Application, **fields: object) -> None:
        app[FAULTS_KEY].add(Fault.model_validate(fields))


@pytest.fixture
def secrets() -> dict[str, str]:
    """The credentials configured in the simulators (to assert they never leak)."""
    return {"robot_key": ROBOT_KEY, "app_secret": APP_SECRET, "oa_secret": OA_SECRET, "dt_token": DT_TOKEN,
            "dt_secret": DT_SECRET, "fs_token": FS_TOKEN, "fs_secret": FS_SECRET}


@pytest.fixture
async def sims() -> AsyncIterator[Sims]:
    clock = ManualClock(start=1_800_000_000)
    wecom = create_wecom_app(WeComSimConfig(
        corp_id=CORP, apps=[SimApp(agent_id=AGENT, secret=APP_SECRET)],
        robots=[SimRobot(name="ops", key=ROBOT_KEY)], users=["alice", "bob", "boss"],
        parties={"1": ["alice", "bob"]}), clock=clock.time)
    dingtalk = create_dingtalk_app(DingTalkSimConfig(robots=[ChatRobot(name="ops", token=DT_TOKEN, secret=DT_SECRET)]),
                                   clock=clock.time, wall_clock=clock.time)
    feishu = create_feishu_app(FeishuSimConfig(robots=[ChatRobot(name="ops", token=FS_TOKEN, secret=FS_SECRET)]),
                               clock=clock.time, wall_clock=clock.time)
    receiver = create_receiver_app(ReceiverSimConfig(endpoints=[ReceiverEndpoint(
        path="oa/alerts", secret=OA_SECRET,
        record_headers=["X-Exmail-Idempotency-Key", "X-Exmail-Timestamp", "X-Exmail-Signature"])]),
                                   clock=clock.time, wall_clock=clock.time)
    root = web.Application()
    for prefix, app in (("/wecom/", wecom), ("/dingtalk/", dingtalk), ("/feishu/", feishu), ("/receiver/", receiver)):
        root.add_subapp(prefix, app)
    runner = web.AppRunner(root, access_log_class=ScrubbingAccessLogger, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Sims(f"http://127.0.0.1:{port}", clock, wecom, dingtalk, feishu, receiver)
    finally:
        await runner.cleanup()
