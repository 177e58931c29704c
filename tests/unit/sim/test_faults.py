"""Fault switches: errcode bursts, -1 busy, HTTP 5xx, slow responses, dropped connections, early token
expiry; endpoint scoping, counts, probabilities deterministic under a seed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from pipeline.sim import FaultRule, SimulatorHandle
from pipeline.sim._faults import FaultEngine

DOMAIN = "corp.example.com"
WINDOW = {"begin_date": "2026-01-05", "end_date": "2026-01-05"}


async def user_get(exmail: Any) -> dict[str, Any]:
    return await exmail.call("contact", "user/get", {"userid": f"admin@{DOMAIN}"}, method="GET")


async def test_fault_45009_burst_affects_next_n_calls(exmail: Any, sim: SimulatorHandle) -> None:
    await exmail.token("contact")
    await sim.admin.add_fault(kind="errcode", errcode=45009, endpoint="user/*", count=2)
    assert (await user_get(exmail)) == {"errcode": 45009, "errmsg": "api freq out of limit"}
    assert (await user_get(exmail))["errcode"] == 45009
    assert (await user_get(exmail))["errcode"] == 0
    assert (await sim.admin.stats())["faults_fired"] == {"f1": 2}


async def test_fault_busy_minus_one(exmail: Any, sim: SimulatorHandle) -> None:
    await exmail.token("contact")
    await sim.admin.add_fault(kind="errcode", errcode=-1, count=1)
    assert (await user_get(exmail)) == {"errcode": -1, "errmsg": "system busy"}


async def test_fault_http_5xx(exmail: Any, sim: SimulatorHandle) -> None:
    token = await exmail.token("system_log")
    await sim.admin.add_fault(kind="http_status", status=503, endpoint="log/mail")
    resp = await exmail.http.post("log/mail", params={"access_token": token}, json={**WINDOW, "mailtype": 0})
    assert resp.status_code == 503
    ok = await exmail.http.post("log/batchjob", params={"access_token": token}, json=WINDOW)
    assert ok.status_code == 200 and ok.json()["errcode"] == 0
    await sim.admin.clear_faults()
    resp = await exmail.http.post("log/mail", params={"access_token": token}, json={**WINDOW, "mailtype": 0})
    assert resp.status_code == 200


async def test_fault_slow_response_still_answers(exmail: Any, sim: SimulatorHandle) -> None:
    await exmail.token("contact")
    rule = await sim.admin.add_fault(kind="delay", delay=0.05, count=1)
    assert (await user_get(exmail))["errcode"] == 0
    assert (await sim.admin.stats())["faults_fired"] == {rule["id"]: 1}


async def test_fault_slow_response_trips_client_timeout(exmail: Any, sim: SimulatorHandle) -> None:
    token = await exmail.token("contact")
    await sim.admin.add_fault(kind="delay", delay=5, endpoint="user/get", count=1)
    with pytest.raises(httpx.ReadTimeout):
        await exmail.http.get("user/get", params={"access_token": token, "userid": f"admin@{DOMAIN}"},
                              timeout=0.2)


async def test_fault_dropped_connection(exmail: Any, sim: SimulatorHandle) -> None:
    token = await exmail.token("contact")
    await sim.admin.add_fault(kind="drop", endpoint="user/get", count=1)
    with pytest.raises(httpx.RemoteProtocolError):
        await exmail.http.get("user/get", params={"access_token": token, "userid": f"admin@{DOMAIN}"})
    assert (await user_get(exmail))["errcode"] == 0


async def test_fault_early_token_expiry(exmail: Any, sim: SimulatorHandle) -> None:
    await exmail.token("contact")
    await sim.admin.add_fault(kind="expire_token", endpoint="user/get", count=1)
    assert (await user_get(exmail))["errcode"] == 40014
    assert (await user_get(exmail))["errcode"] == 40014  # the token stays expired
    exmail.tokens.clear()
    assert (await user_get(exmail))["errcode"] == 0


async def test_fault_rules_listed_and_removed(sim: SimulatorHandle) -> None:
    rule = await sim.admin.add_fault(kind="errcode", errcode=-1, probability=0.5)
    async with httpx.AsyncClient(base_url=f"{sim.base_url}/_sim/") as http:
        assert [r["id"] for r in (await http.get("faults")).json()["rules"]] == [rule["id"]]
        assert (await http.delete(f"faults/{rule['id']}")).status_code == 200
        assert (await http.get("faults")).json()["rules"] == []
        bad = await http.post("faults", json={"kind": "explode"})
        assert bad.status_code == 400 and "kind" in bad.json()["error"]


def test_fault_probability_deterministic_under_seed() -> None:
    def run(seed: int) -> list[bool]:
        engine = FaultEngine(seed, [FaultRule(kind="errcode", probability=0.3, endpoint="log/*")])
        return [engine.decide("log/mail").terminal is not None for _ in range(300)]

    first, again, other = run(5), run(5), run(6)
    assert first == again and first != other
    assert 50 < sum(first) < 130


def test_fault_scope_by_endpoint_pattern() -> None:
    engine = FaultEngine(1, [FaultRule(kind="http_status", endpoint="log/*")])
    assert engine.decide("log/login").terminal is not None
    assert engine.decide("user/get").terminal is None


def test_fault_cli_flag_parsing() -> None:
    rule = FaultRule.parse_flag("kind=errcode,errcode=45009,endpoint=log/*,probability=0.2,count=3")
    assert (rule.kind, rule.errcode, rule.endpoint, rule.probability, rule.count) == ("errcode", 45009, "log/*",
                                                                                       0.2, 3)
    assert FaultRule.parse_flag("drop,endpoint=gettoken").kind == "drop"
    with pytest.raises(ValueError):
        FaultRule.parse_flag("kind=nope")
