"""IngestConfig validation, the simulator-credentials config, secrets kept out of reprs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from pipeline.sources._runtime import Poller
from pipeline.sources.config import IngestConfig, client_settings, config_from_sim_credentials

BASE = {"corps": [{"name": "acme", "corp_id": "wwacme", "secrets": {"system_log": "env:ACME_LOG"}}]}


def test_minimal_config_defaults() -> None:
    cfg = IngestConfig.model_validate(BASE)
    assert cfg.poll.lag_seconds == 6 * 3600 and cfg.poll.backfill_days == 7
    assert cfg.corps[0].callback_path == "/exmail/callback/acme"


@pytest.mark.parametrize("patch,needle", [
    ({"secrets": {"system_log": "s3cr3t-inline"}}, "secret reference"),
    ({"streams": ["mail_log", "bogus"]}, "unknown stream"),
    ({"desired_options": {7: "1"}}, "type 7"),
    ({"desired_options": {1: "yes"}}, "must be '0' or '1'"),
    ({"name": "Bad Name"}, "name"),
])
def test_invalid_corp_fields_are_named(patch: dict[str, Any], needle: str) -> None:
    corp = {**BASE["corps"][0], **patch}
    with pytest.raises(ValidationError) as info:
        IngestConfig.model_validate({"corps": [corp]})
    assert needle in str(info.value)
    assert "s3cr3t-inline" not in str(info.value)  # the rejected value is not echoed (hide_input_in_errors)


def test_duplicate_corps_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate name"):
        IngestConfig.model_validate({"corps": [BASE["corps"][0], {**BASE["corps"][0], "corp_id": "other"}]})


def test_yaml_with_ingest_section(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text("ingest:\n  corps:\n    - name: acme\n      corp_id: wwacme\n  poll:\n    lag_seconds: 60\n")
    assert IngestConfig.from_file(path).poll.lag_seconds == 60


def test_sim_credentials_become_file_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = {"corp_id": "wwsim", "domain": "corp.example.com", "service_mailbox": "service@corp.example.com",
             "secrets": {"contact": "c" * 43, "system_log": "l" * 43, "mail_notice": "n" * 43,
                         "function_setting": "f" * 43, "unique_login": "u" * 43},
             "callback_token": "tok", "callback_aes_key": "k" * 43, "exmail_base": "http://127.0.0.1:9/cgi-bin/",
             "admin_base": "http://127.0.0.1:9/_sim/", "utc_offset_minutes": 480}
    path = tmp_path / "sim.json"
    path.write_bytes(orjson.dumps(creds))
    cfg = config_from_sim_credentials(path)
    corp = cfg.corps[0]
    assert corp.secrets.system_log and corp.secrets.system_log.startswith("file:")
    assert corp.newcount.mailboxes == ["service@corp.example.com"] and corp.domains == ["corp.example.com"]
    assert cfg.clock.kind == "sim" and cfg.clock.sim_admin_url == "http://127.0.0.1:9/_sim/"
    dumped = cfg.model_dump_json()
    assert "l" * 43 not in dumped and "tok" not in dumped.replace("token", "")
    settings = client_settings(corp, 30)
    assert settings.secrets.system_log is not None
    assert settings.secrets.system_log.get_secret_value() == "l" * 43
    assert "l" * 43 not in repr(settings)


async def test_poller_loop_backs_off_and_recovers(env: Any) -> None:
    class Flaky(Poller):
        stream = "flaky"
        runs = 0

        async def poll_once(self) -> None:
            Flaky.runs += 1
            if Flaky.runs < 3:
                raise RuntimeError("boom")
            stop.set()

    stop = asyncio.Event()
    poller = Flaky(env.rt, env.corp, interval=60)
    await asyncio.wait_for(poller.run(stop), timeout=10)
    assert Flaky.runs == 3 and poller.failures == 0
    errors = env.broker.values("t.exmail.raw.pipeline_error")
    assert [e["data"]["message"] for e in errors] == ["boom", "boom"]
