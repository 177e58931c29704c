"""Simulated destinations behind aiohttp test clients, on a manual clock."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.clock import ManualClock
from pipeline.sim.receiver import (
    ChatRobot,
    DingTalkSimConfig,
    FeishuSimConfig,
    ReceiverEndpoint,
    ReceiverSimConfig,
    create_dingtalk_app,
    create_feishu_app,
)
from pipeline.sim.receiver import create_app as create_receiver_app
from pipeline.sim.receiver.recording import RECORDER_KEY, Recorder, ScrubbingAccessLogger
from pipeline.sim.wecom import SimApp, SimRobot, WeComSimConfig
from pipeline.sim.wecom import create_app as create_wecom_app

WECOM = WeComSimConfig(
    corp_id="wwcorp", apps=[SimApp(agent_id=1000002, secret="app-secret"), SimApp(agent_id=1000003, secret="s3")],
    robots=[SimRobot(name="ops", key="robot-key"), SimRobot(name="dev", key="dev-key")],
    users=["alice", "bob", "carol"], parties={"1": ["alice", "bob"], "2": ["carol"]}, tags={"7": ["bob"]},
    member_per_hour=40,
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000)


@dataclass
class Mounted:
    """A simulator app mounted under `prefix` of a root app, served on 127.0.0.1."""

    client: TestClient
    app: web.Application
    prefix: str

    @property
    def recorder(self) -> Recorder:
        return self.app[RECORDER_KEY]

    async def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
                   **kwargs: Any) -> tuple[int, Any]:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        async with self.client.request(method, self.prefix + path, data=data, **kwargs) as resp:
            text = await resp.read()
            try:
                return resp.status, orjson.loads(text)
            except orjson.JSONDecodeError:
                return resp.status, text.decode()


async def _mount(app: web.Application, prefix: str) -> AsyncIterator[Mounted]:
    root = web.Application()
    root.add_subapp(prefix, app)
    client = TestClient(TestServer(root, host="127.0.0.1", access_log_class=ScrubbingAccessLogger))
    await client.start_server()
    try:
        yield Mounted(client, app, prefix.rstrip("/") + "/")
    finally:
        await client.close()


@pytest.fixture
async def wecom(clock: ManualClock) -> AsyncIterator[Mounted]:
    """The WeCom sim mounted at /wecom/, as the main simulator mounts it."""
    async for mounted in _mount(create_wecom_app(WECOM, clock=clock.time), "/wecom/"):
        yield mounted


@pytest.fixture
async def wecom_with(clock: ManualClock) -> AsyncIterator[Callable[..., AbstractAsyncContextManager[Mounted]]]:
    """A WeCom sim with some config fields changed: `async with wecom_with(member_per_day=3) as sim:`."""

    @contextlib.asynccontextmanager
    async def make(**changes: Any) -> AsyncIterator[Mounted]:
        async for mounted in _mount(create_wecom_app(WECOM.model_copy(update=changes), clock=clock.time), "/wecom/"):
            yield mounted

    yield make


@pytest.fixture
async def receiver(clock: ManualClock) -> AsyncIterator[Mounted]:
    cfg = ReceiverSimConfig(endpoints=[ReceiverEndpoint(path="oa/alerts", secret="oa-secret")])
    app = create_receiver_app(cfg, clock=clock.time, wall_clock=clock.time)
    async for mounted in _mount(app, "/receiver/"):
        yield mounted


@pytest.fixture
async def dingtalk(clock: ManualClock) -> AsyncIterator[Mounted]:
    cfg = DingTalkSimConfig(robots=[ChatRobot(name="ops", token="dt-token", secret="SECdt"),
                                    ChatRobot(name="kw", token="kw-token", keywords=["告警"])])
    app = create_dingtalk_app(cfg, clock=clock.time, wall_clock=clock.time)
    async for mounted in _mount(app, "/dingtalk/"):
        yield mounted


@pytest.fixture
async def feishu(clock: ManualClock) -> AsyncIterator[Mounted]:
    cfg = FeishuSimConfig(robots=[ChatRobot(name="ops", token="fs-token", secret="fs-secret"),
                                  ChatRobot(name="open", token="open-token")])
    app = create_feishu_app(cfg, clock=clock.time, wall_clock=clock.time)
    async for mounted in _mount(app, "/feishu/"):
        yield mounted
