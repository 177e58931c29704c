"""Transient failures injected by the simulator and the client's retry contract: 45009 bursts and the
simulator's own per-app QPS limit, -1 busy, HTTP 5xx, responses slower than the client's read timeout,
dropped connections, and the retry budget running out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from pipeline.exmail import (
    ExmailClient,
    RateLimit,
    RateLimited,
    RetrySettings,
    ServerBusy,
    TransportError,
    ValidationError,
)
from pipeline.exmail.models import DepartmentCreate
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

ClientFactory = Callable[..., ExmailClient]

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
TODAY = "2026-01-05"


async def fired(sim: SimulatorHandle, rule: dict[str, object]) -> int:
    return int((await sim.admin.stats())["faults_fired"].get(str(rule["id"]), 0))


async def test_rate_limit_45009_burst_retried_then_succeeds(
    client: ExmailClient, sim: SimulatorHandle, calls: Callable[[str], int]
) -> None:
    rule = await sim.admin.add_fault(kind="errcode", errcode=45009, endpoint="user/get", count=3)
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert await fired(sim, rule) == 3
    assert calls("user/get") == 1  # the three refused attempts never reached the handler


async def test_rate_limit_45009_on_log_query_retried(client: ExmailClient, sim: SimulatorHandle) -> None:
    rule = await sim.admin.add_fault(kind="errcode", errcode=45009, endpoint="log/*", count=2)
    assert await client.log_batchjob(TODAY, TODAY) == []
    assert await fired(sim, rule) == 2


async def test_rate_limit_45009_budget_spent_raises_rate_limited(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    rule = await sim.admin.add_fault(kind="errcode", errcode=45009, endpoint="user/get")
    with pytest.raises(RateLimited) as caught:
        await client.user_get(ADMIN)
    assert caught.value.errcode == 45009
    assert await fired(sim, rule) == 4  # FAST_RETRY.max_attempts


async def test_rate_limit_server_qps_45009_retried_until_window_frees(
    make_client: ClientFactory, sim: SimulatorHandle, calls: Callable[[str], int]
) -> None:
    """The simulator's own sliding-second limit (not a fault rule): concurrent calls beyond it get 45009 and
    the client's backoff carries them into the next second."""
    await sim.admin.set_choices(app_qps=3)
    patient = RetrySettings(
        max_attempts=12, max_total_seconds=20, base_delay_seconds=0.2, max_delay_seconds=0.6
    )
    client = make_client(retry=patient)
    users = await asyncio.gather(*(client.user_get(ADMIN) for _ in range(6)))
    assert [u.userid for u in users] == [ADMIN] * 6
    assert calls("user/get") > 6  # some attempts were refused with 45009 and retried


async def test_rate_limit_client_pacing_stays_under_server_qps(
    make_client: ClientFactory, sim: SimulatorHandle, calls: Callable[[str], int]
) -> None:
    """A client whose app bucket matches the server's QPS never sees 45009 (no retries are allowed here)."""
    await sim.admin.set_choices(app_qps=20)
    # a token bucket lets at most burst + rate calls into any one second: 5 + 10 < 20 < 22 calls
    client = make_client(app_rate_limit=RateLimit(rate=10, burst=5), retry=RetrySettings(max_attempts=1))
    for _ in range(22):
        await client.user_get(ADMIN)
    assert calls("user/get") == 22


async def test_busy_minus_one_retried_then_succeeds(client: ExmailClient, sim: SimulatorHandle) -> None:
    rule = await sim.admin.add_fault(kind="errcode", errcode=-1, endpoint="department/list", count=2)
    assert await client.department_list(1)
    assert await fired(sim, rule) == 2


async def test_busy_minus_one_budget_spent_raises_server_busy(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    await sim.admin.add_fault(kind="errcode", errcode=-1, endpoint="department/list")
    with pytest.raises(ServerBusy) as caught:
        await client.department_list(1)
    assert caught.value.errcode == -1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_http_5xx_retried_then_succeeds(
    client: ExmailClient, sim: SimulatorHandle, status: int
) -> None:
    rule = await sim.admin.add_fault(kind="http_status", status=status, endpoint="log/mail", count=2)
    assert await client.log_mail(TODAY, TODAY) == []
    assert await fired(sim, rule) == 2


async def test_http_5xx_budget_spent_raises_transport_error(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    rule = await sim.admin.add_fault(kind="http_status", status=503, endpoint="log/mail")
    with pytest.raises(TransportError) as caught:
        await client.log_mail(TODAY, TODAY)
    assert (caught.value.status_code, caught.value.errcode) == (503, None)
    assert await fired(sim, rule) == 4


async def test_http_429_retried_as_rate_limit(client: ExmailClient, sim: SimulatorHandle) -> None:
    rule = await sim.admin.add_fault(kind="http_status", status=429, endpoint="user/get", count=2)
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert await fired(sim, rule) == 2


@pytest.mark.parametrize("status", [400, 403, 404])
async def test_http_4xx_not_retried(client: ExmailClient, sim: SimulatorHandle, status: int) -> None:
    rule = await sim.admin.add_fault(kind="http_status", status=status, endpoint="user/get", count=2)
    with pytest.raises(TransportError) as caught:
        await client.user_get(ADMIN)
    assert caught.value.status_code == status
    assert await fired(sim, rule) == 1


async def test_http_5xx_on_gettoken_retried(client: ExmailClient, sim: SimulatorHandle) -> None:
    rule = await sim.admin.add_fault(kind="http_status", status=502, endpoint="gettoken", count=2)
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert await fired(sim, rule) == 2


@pytest.mark.parametrize("errcode", [45009, -1])
async def test_gettoken_transient_errcode_retried(
    client: ExmailClient, sim: SimulatorHandle, errcode: int
) -> None:
    rule = await sim.admin.add_fault(kind="errcode", errcode=errcode, endpoint="gettoken", count=2)
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert await fired(sim, rule) == 2


async def test_slow_response_beyond_read_timeout_retried(
    make_client: ClientFactory, sim: SimulatorHandle
) -> None:
    client = make_client(read_timeout_seconds=0.25)
    await client.user_get(ADMIN)  # token fetched before the slow call
    rule = await sim.admin.add_fault(kind="delay", delay=1.0, endpoint="user/get", count=1)
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert await fired(sim, rule) == 1
    assert sim.sim.api.calls["user/get"] >= 2


async def test_slow_response_within_read_timeout_not_retried(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    await sim.admin.add_fault(kind="delay", delay=0.05, endpoint="user/get", count=1)
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert sim.sim.api.calls["user/get"] == 1


async def test_dropped_connection_retried_then_succeeds(client: ExmailClient, sim: SimulatorHandle) -> None:
    await client.user_get(ADMIN)
    rule = await sim.admin.add_fault(kind="drop", endpoint="user/get", count=2)
    assert (await client.user_get(ADMIN)).userid == ADMIN
    assert await fired(sim, rule) == 2
    assert sim.sim.api.calls["user/get"] == 2


async def test_dropped_connection_budget_spent_raises_transport_error(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    await sim.admin.add_fault(kind="drop", endpoint="user/get")
    with pytest.raises(TransportError) as caught:
        await client.user_get(ADMIN)
    assert caught.value.reason == "connection" and caught.value.status_code is None


async def test_write_retried_after_dropped_connection_applied_once(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    """A drop happens before the handler runs, so retrying a create does not create twice."""
    await sim.admin.add_fault(kind="drop", endpoint="department/create", count=1)
    new_id = await client.department_create(DepartmentCreate(name="重试部门", parentid=1))
    names = [d["name"] for d in (await sim.admin.directory())["departments"]]
    assert names.count("重试部门") == 1 and new_id in {
        d["id"] for d in (await sim.admin.directory())["departments"]
    }


async def test_validation_error_never_retried(client: ExmailClient, sim: SimulatorHandle) -> None:
    with pytest.raises(ValidationError):
        await client.log_mailstatus("other-corp.example.org", TODAY, TODAY)
    assert sim.sim.api.calls["log/mailstatus"] == 1
