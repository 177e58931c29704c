"""pipeline/ingest/cli.py: `pipeline ingest` and `pipeline backfill` refuse bad arguments and configs with a clear
message before anything starts (the running process is driven by tests/integration/sources/)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ingest.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


GOOD = "corps:\n  - {name: acme, corp_id: wwacme, secrets: {system_log: 'env:X'}}\n"


def test_exactly_one_config_source(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ingest"])
    assert result.exit_code == 2 and "give exactly one of --config FILE or --sim-credentials FILE" in result.output


def test_an_invalid_config_names_each_bad_field(tmp_path: Path) -> None:
    bad = _config(tmp_path, "corps:\n  - {name: acme, corp_id: wwacme, streams: [mail_log, x_log]}\n"
                            "poll: {intervals: {mail_log: 0}}\n")
    result = CliRunner().invoke(main, ["backfill", "--since", "2026-03-01", "--config", bad])
    assert result.exit_code == 1
    assert "invalid ingest config:" in result.output
    assert "corps.0.streams: Value error, unknown stream(s) ['x_log']" in result.output
    assert "poll.intervals.mail_log: Input should be greater than 0" in result.output


def test_an_unknown_corp(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", "--config", _config(tmp_path, GOOD), "--corp", "other"])
    assert result.exit_code == 2 and "--corp other: not in the config" in result.output


def test_backfill_streams_are_the_catalog_log_kinds(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["backfill", "--since", "2026-03-01", "--stream", "mail_status",
                                       "--config", _config(tmp_path, GOOD)])
    assert result.exit_code == 2
    assert "'mail_status' is not one of 'mail_log', 'login_log', 'operation_log', 'batchjob_log'" in result.output
