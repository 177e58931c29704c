"""Contract fixtures: the simulator in-process on 127.0.0.1 (a free port, frozen clock, no background traffic)
and real ExmailClients talking to it over TCP, with retry backoff in milliseconds.

The simulator runs with `wrong_method="http_405"`, so every call in this folder also proves that the client
uses the HTTP method the simulator registers for the endpoint.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from pipeline.exmail import App, AppSecrets, ExmailClient, ExmailSettings, RateLimit, RetrySettings
from pipeline.sim import SimConfig, SimulatorHandle, run_simulator

START = "2026-01-05T10:00:00+08:00"
TODAY = "2026-01-05"
T0 = 1767578400  # START as Unix seconds
DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"

# The simulator names its apps after the reference's LEO config keys; the client calls SSO "sso".
SIM_APP = {app: ("unique_login" if app is App.SSO else app.value) for app in App}

FAST_RETRY = RetrySettings(
    max_attempts=4, max_total_seconds=10, base_delay_seconds=0.002, max_delay_seconds=0.01
)

ClientFactory = Callable[..., ExmailClient]


def sim_config(**overrides: Any) -> SimConfig:
    """A small seeded company; keyword overrides win (nested dicts replace whole sections)."""
    values: dict[str, Any] = {
        "users": 40,
        "seed": 7,
        "speed": 0,
        "start": START,
        "traffic": {"enabled": False},
        "mount_surfaces": False,
        "choices": {"wrong_method": "http_405"},
    }
    values.update(overrides)
    return SimConfig.model_validate(values)


def client_settings(handle: SimulatorHandle, **overrides: Any) -> ExmailSettings:
    """Settings for the simulator's corp: all five secrets, fast retries, generous rate limits."""
    creds = handle.credentials
    values: dict[str, Any] = {
        "corp_id": creds["corp_id"],
        "base_url": handle.exmail_base,
        "secrets": AppSecrets(**{app.value: creds["secrets"][SIM_APP[app]] for app in App}),
        "retry": FAST_RETRY,
        "connect_timeout_seconds": 5.0,
        "read_timeout_seconds": 5.0,
        "corp_rate_limit": RateLimit(rate=10_000, burst=10_000),
        "app_rate_limit": RateLimit(rate=10_000, burst=10_000),
    }
    values.update(overrides)
    return ExmailSettings(**values)


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    async with run_simulator(sim_config()) as handle:
        yield handle


@pytest.fixture
async def make_client(sim: SimulatorHandle) -> AsyncIterator[ClientFactory]:
    """Builds real clients (httpx over TCP) for `sim`; settings overrides as keywords, plus `clock=`."""
    created: list[ExmailClient] = []

    def factory(clock: Callable[[], float] | None = None, **overrides: Any) -> ExmailClient:
        extra: dict[str, Any] = {"clock": clock} if clock is not None else {}
        client = ExmailClient(client_settings(sim, **overrides), rng=random.Random(7), **extra)
        created.append(client)
        return client

    yield factory
    for client in created:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> ExmailClient:
    return make_client()


@pytest.fixture
def calls(sim: SimulatorHandle) -> Callable[[str], int]:
    """How many requests the simulator received for an endpoint (every attempt counts)."""

    def count(endpoint: str) -> int:
        return int(sim.sim.api.calls.get(endpoint, 0))

    return count
