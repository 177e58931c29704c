"""`pipeline sim` options, the credentials file, admin API input errors, metrics and health."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
from click.testing import CliRunner

from pipeline.sim import SimulatorHandle
from pipeline.sim.cli import sim_command


def test_sim_help_documents_every_option() -> None:
    result = CliRunner().invoke(sim_command, ["--help"])
    assert result.exit_code == 0
    for flag in ("--host", "--port", "--seed", "--users", "--speed", "--start", "--callback-url", "--fault",
                 "--credentials-out", "--fault-seed", "--no-traffic", "--history-hours", "--app-qps",
                 "--expired-token-errcode", "--token-expires-in"):
        assert flag in result.output, flag


def test_sim_is_a_pipeline_subcommand() -> None:
    from pipeline.cli import main

    result = CliRunner().invoke(main, ["sim", "--help"])
    assert result.exit_code == 0 and "--credentials-out" in result.output


def test_sim_rejects_bad_fault_flag() -> None:
    result = CliRunner().invoke(sim_command, ["--fault", "kind=explode"])
    assert result.exit_code != 0 and "--fault" in result.output


async def test_credentials_file_has_everything_and_mode_0600(sim: SimulatorHandle, tmp_path: Path) -> None:
    target = tmp_path / "creds" / "sim.json"
    sim.sim.write_credentials(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    creds = json.loads(target.read_text())
    assert creds["corp_id"].startswith("ww") and len(creds["corp_id"]) == 18
    assert set(creds["secrets"]) == {"contact", "unique_login", "mail_notice", "system_log", "function_setting"}
    assert len(set(creds["secrets"].values())) == 5
    assert len(creds["callback_aes_key"]) == 43 and creds["callback_token"]
    assert creds["exmail_base"] == f"{sim.base_url}/cgi-bin/"
    assert creds["admin_base"] == f"{sim.base_url}/_sim/"
    assert creds["wecom_base"].startswith(sim.base_url) and creds["receiver_base"].startswith(sim.base_url)
    assert creds["domain"] == "corp.example.com" and creds["service_mailbox"] == "service@corp.example.com"
    async with httpx.AsyncClient() as http:
        r = await http.get(f"{creds['exmail_base']}gettoken", params={"corpid": creds["corp_id"],
                                                                       "corpsecret": creds["secrets"]["contact"]})
    assert r.json()["errcode"] == 0


async def test_admin_api_rejects_bad_input_with_400(sim: SimulatorHandle) -> None:
    async with httpx.AsyncClient(base_url=f"{sim.base_url}/_sim/") as http:
        assert (await http.post("clock/advance", json={"seconds": -5})).status_code == 400
        assert (await http.post("clock/set", json={"time": "yesterday"})).status_code == 400
        assert (await http.post("generate", json={"day": "2026-13-40"})).status_code == 400
        assert (await http.post("generate", json={"bogus": 1})).status_code == 400
        assert (await http.post("choices", json={"log_order": "random"})).status_code == 400
        assert (await http.post("callback", json={"token": "x"})).status_code == 400
        assert (await http.get("truth/nothing")).status_code == 404
        assert (await http.post("logs", content=b"[1,2]")).status_code == 400


async def test_clock_control_set_advance_pause_resume_speed(sim: SimulatorHandle) -> None:
    state = await sim.admin.set_clock("2026-02-01T09:00:00+08:00")
    assert state["date"] == "2026-02-01" and state["local"].startswith("2026-02-01T09:00:00")
    state = await sim.admin.advance(3600)
    assert state["local"].startswith("2026-02-01T10:00:00")
    assert (await sim.admin.pause())["paused"] is True
    assert (await sim.admin.set_speed(60))["speed"] == 60
    assert (await sim.admin.clock())["local"].startswith("2026-02-01T10:00:00")
    assert (await sim.admin.resume())["paused"] is False


async def test_health_metrics_and_state_endpoints(sim: SimulatorHandle) -> None:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        assert (await http.get("/_sim/health")).json()["ok"] is True
        assert (await http.get("/metrics")).status_code == 200
        directory = (await http.get("/_sim/state/directory")).json()
        assert len(directory["users"]) == 40 and all("password" not in u for u in directory["users"])
        assert (await http.get("/_sim/state/company")).json()["service_mailbox"] == "service@corp.example.com"
        received = await http.get("/_sim/received/wecom")
        assert received.status_code == 404  # surfaces are not mounted in this fixture


async def test_wecom_and_receiver_surfaces_are_mounted_and_recorded() -> None:
    import pytest

    pytest.importorskip("pipeline.sim.wecom")
    from pipeline.sim import SimConfig, run_simulator

    async with run_simulator(SimConfig(users=10, traffic={"enabled": False})) as handle:
        creds = handle.credentials
        assert "wecom" in creds["mounted_surfaces"]
        robot_key = creds["surface_settings"]["wecom"]["robots"][0]["key"]
        async with httpx.AsyncClient(base_url=creds["wecom_base"]) as http:
            resp = await http.post("webhook/send", params={"key": robot_key},
                                   json={"msgtype": "text", "text": {"content": "hello"}})
        assert resp.json()["errcode"] == 0
        received = await handle.admin.received("wecom")
        assert [r["body"]["text"]["content"] for r in received if r["channel"] == "robot"] == ["hello"]
        assert set(await handle.admin.received()) == set(creds["mounted_surfaces"])


def test_config_repr_hides_secrets() -> None:
    from pipeline.sim import CallbackConfig, SimConfig

    config = SimConfig(app_secrets={"contact": "s3cr3t-contact"}, callback_token="cb-token-xyz",
                       callback=CallbackConfig(url="http://x/cb", token="push-token-abc"))
    text = repr(config) + str(config)
    assert "s3cr3t-contact" not in text and "cb-token-xyz" not in text and "push-token-abc" not in text
