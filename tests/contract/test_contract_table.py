"""The client's endpoint table and errcode table against the simulator's: same paths, methods and apps, and
every errcode the simulator can answer maps to a client exception that is retried exactly when it
should be."""

from __future__ import annotations

import pytest

from pipeline.exmail import (
    ENDPOINTS,
    ERRCODES,
    AuthError,
    ExmailError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerBusy,
    ValidationError,
    error_for,
)
from pipeline.exmail._retry import retry_reason
from pipeline.sim import SimulatorHandle
from pipeline.sim._errors import BORROWED_FROM_WECOM, ERRMSG

pytestmark = pytest.mark.integration

SIM_APP = {
    "contact": "contact",
    "sso": "unique_login",
    "mail_notice": "mail_notice",
    "system_log": "system_log",
    "function_setting": "function_setting",
}

# Codes the simulator borrows from WeCom where the Exmail reference is silent (sim README "Return codes");
# 42001 (WeCom's expired token) the client already treats as a refused token.
SIM_ONLY_CODES = BORROWED_FROM_WECOM - {42001}


def test_endpoints_same_paths_methods_and_apps(sim: SimulatorHandle) -> None:
    served = sim.sim.api.endpoints
    assert set(ENDPOINTS) == set(served) - {"gettoken"}
    for path, endpoint in ENDPOINTS.items():
        assert endpoint.method in served[path].methods, path
        assert SIM_APP[endpoint.app.value] == served[path].app, path


@pytest.mark.parametrize("errcode", sorted(set(ERRMSG) - SIM_ONLY_CODES))
def test_errcodes_of_simulator_are_known_to_client(errcode: int) -> None:
    assert errcode in ERRCODES
    assert type(error_for(errcode, ERRMSG[errcode], "x")) is ERRCODES[errcode][0]


@pytest.mark.parametrize("errcode", sorted(SIM_ONLY_CODES))
def test_errcodes_borrowed_by_simulator_raise_base_error_not_retried(errcode: int) -> None:
    error = error_for(errcode, ERRMSG[errcode], "x")
    assert type(error) is ExmailError and error.errcode == errcode
    assert retry_reason(error) is None


@pytest.mark.parametrize(
    ("errcode", "cls", "retried"),
    [
        (-1, ServerBusy, True),
        (45009, RateLimited, True),
        (40001, AuthError, False),
        (40014, AuthError, False),
        (42001, AuthError, False),
        (602005, PermissionDenied, False),
        (60111, NotFound, False),
        (601002, ValidationError, False),
    ],
)
def test_errcodes_classes_and_retry(errcode: int, cls: type[ExmailError], retried: bool) -> None:
    error = error_for(errcode, ERRMSG[errcode], "x")
    assert isinstance(error, cls)
    assert (retry_reason(error) is not None) is retried
