"""pipeline/worker/main.py and cli.py: every agent name the config accepts has its installer; the command's
overrides land in the config the worker runs with; changelogs are aligned at start unless the broker is down."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, get_args

import pytest
from click.testing import CliRunner

from pipeline.worker import cli as worker_cli
from pipeline.worker import main
from pipeline.worker.config import AgentName
from pipeline.worker.main import INSTALLERS


def test_every_agent_name_has_an_installer() -> None:
    assert set(INSTALLERS) == set(get_args(AgentName))


def test_worker_command_applies_overrides_to_the_validated_config(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    ran: dict[str, Any] = {}
    monkeypatch.setattr(worker_cli, "run_worker",
                        lambda cfg, agents, loglevel: ran.update(cfg=cfg, agents=agents, loglevel=loglevel))
    cfg_file = tmp_path / "p.yaml"
    cfg_file.write_text("worker:\n  agents: [normalize]\n")
    result = CliRunner().invoke(worker_cli.worker, [
        "--config", str(cfg_file), "--agent", "audit", "--bootstrap", "h:1", "--prefix", "t.", "--http-port", "0",
        "--sqlite", str(tmp_path / "a.db"), "--app-id", "g", "--instance-id", "w1"])
    assert result.exit_code == 0, result.output
    cfg = ran["cfg"]
    assert ran["agents"] == ["audit"] and cfg.worker.agents == ["normalize"]
    assert (cfg.kafka.bootstrap, cfg.kafka.topic_prefix, cfg.worker.http_port) == ("h:1", "t.", 0)
    assert cfg.worker.audit.kind == "sqlite" and cfg.worker.audit.path == tmp_path / "a.db"
    assert (cfg.worker.app_id, cfg.worker.instance_id) == ("g", "w1")


def test_worker_command_names_config_problems(tmp_path: Path) -> None:
    cfg_file = tmp_path / "p.yaml"
    cfg_file.write_text("worker:\n  siem:\n    - {type: nope}\n")
    result = CliRunner().invoke(worker_cli.worker, ["--config", str(cfg_file)])
    assert result.exit_code == 1
    assert "worker.siem[0].kind: unknown kind" in result.output


class _Changelog:
    def __init__(self, exc: BaseException | None) -> None:
        self.exc, self.changelog, self.aligned = exc, "p.w-alerting-rules-changelog", False

    def align_at_start(self) -> None:
        if self.exc is not None:
            raise self.exc
        self.aligned = True


def test_align_changelogs_starts_without_a_broker_but_not_with_a_changelog_wider_than_its_source(
        caplog: pytest.LogCaptureFixture) -> None:
    ok, down = _Changelog(None), _Changelog(RuntimeError("KafkaError{code=_TRANSPORT}"))
    main.align_changelogs(SimpleNamespace(changelogs=[down, ok]))  # type: ignore[arg-type]
    assert ok.aligned
    assert "p.w-alerting-rules-changelog not checked at start (KafkaError{code=_TRANSPORT})" in caplog.text
    with pytest.raises(SystemExit, match="wider"):
        main.align_changelogs(SimpleNamespace(changelogs=[_Changelog(SystemExit("wider"))]))  # type: ignore[arg-type]
