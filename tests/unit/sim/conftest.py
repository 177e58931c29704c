"""Fixtures for simulator tests: an in-process simulator on a free port with a frozen clock, and a small
Exmail caller that fetches one token per app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from pipeline.sim import SimConfig, SimulatorHandle, run_simulator

START = "2026-01-05T10:00:00+08:00"
DAY = "2026-01-05"


class Exmail:
    """Calls /cgi-bin/ endpoints with the right app's token (or a given one)."""

    def __init__(self, handle: SimulatorHandle) -> None:
        self.handle = handle
        self.creds = handle.credentials
        self.http = httpx.AsyncClient(base_url=handle.exmail_base, timeout=10)
        self.tokens: dict[str, str] = {}

    async def token(self, app: str) -> str:
        if app not in self.tokens:
            resp = await self.http.get("gettoken", params={"corpid": self.creds["corp_id"],
                                                           "corpsecret": self.creds["secrets"][app]})
            body = resp.json()
            assert body["errcode"] == 0, body
            self.tokens[app] = body["access_token"]
        return self.tokens[app]

    async def call(self, app: str, endpoint: str, body: dict[str, Any] | None = None, method: str = "POST",
                   token: str | None = None, **query: Any) -> dict[str, Any]:
        params = {"access_token": token if token is not None else await self.token(app), **query}
        if method == "GET":
            resp = await self.http.get(endpoint, params={**params, **(body or {})})
        else:
            resp = await self.http.post(endpoint, params=params, json=body or {})
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def aclose(self) -> None:
        await self.http.aclose()


def small_config(**overrides: Any) -> SimConfig:
    base: dict[str, Any] = {"users": 40, "seed": 7, "speed": 0, "start": START, "traffic": {"enabled": False},
                            "mount_surfaces": False}
    base.update(overrides)
    return SimConfig.model_validate(base)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with run_simulator(small_config()) as handle:
        yield handle


@pytest.fixture
async def exmail(sim: SimulatorHandle) -> AsyncIterator[Exmail]:
    client = Exmail(sim)
    yield client
    await client.aclose()


@pytest.fixture
async def exmail_day() -> AsyncIterator[tuple[SimulatorHandle, Exmail]]:
    """A simulator with one generated day (2026-01-05), the clock past most late records of that day."""
    config = small_config(users=60, start="2026-01-05T23:00:00+08:00", traffic={"enabled": False})
    async with run_simulator(config) as handle:
        await handle.admin.generate(DAY, mail_records=1500, login_records=400, operation_records=200,
                                    batchjob_records=50)
        client = Exmail(handle)
        try:
            yield handle, client
        finally:
            await client.aclose()
