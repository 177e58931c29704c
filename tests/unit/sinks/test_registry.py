"""The one sink registry: every sink folder is listed under its `kind:`, a kind in the wrong section is refused
with the section it belongs to, and SIEM entries still written with `type:` keep working with a warning."""

from __future__ import annotations

import importlib
import pkgutil
import typing
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

import pipeline.sinks
import pipeline.sinks.audit
from pipeline.cli import main
from pipeline.config import check_config
from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.audit.sqlite import SqliteAuditStore
from pipeline.sinks.delivery.factory import SINK_CONFIG, build_sink
from pipeline.sinks.registry import (
    SINKS,
    UnknownSinkKind,
    _index,
    kinds,
    open_audit_store,
    parse_siem,
    spec_for,
    validate_receiver,
)
from pipeline.sinks.syslog import SyslogSinkConfig
from pipeline.sinks.wecom_robot import WeComRobotSink


def _sink_folders() -> set[str]:
    """Every package under pipeline/sinks (and pipeline/sinks/audit) whose __init__ declares a SINK."""
    found = set()
    for parent in (pipeline.sinks, pipeline.sinks.audit):
        for info in pkgutil.iter_modules(parent.__path__):
            if info.ispkg:
                module = importlib.import_module(f"{parent.__name__}.{info.name}")
                if isinstance(getattr(module, "SINK", None), SinkSpec):
                    found.add(module.SINK.kind)
    return found


def test_every_sink_folder_is_registered_under_its_kind() -> None:
    assert _sink_folders() == set(SINKS)
    assert set(kinds("receiver")) == {"wecom_robot", "wecom_app", "webhook", "dingtalk", "feishu"}
    assert set(kinds("siem")) == {"elasticsearch", "splunk_hec", "syslog", "jsonl_file"}
    assert set(kinds("audit")) == {"sqlite", "postgres"}
    assert kinds("stream") == ["sse"]


@pytest.mark.parametrize("kind", [k for k, s in SINKS.items() if s.role in ("receiver", "siem")])
def test_receiver_and_siem_configs_carry_their_kind_as_the_discriminator(kind: str) -> None:
    field = SINKS[kind].config.model_fields["kind"]
    assert typing.get_args(field.annotation) == (kind,) and field.default == kind


def test_two_sinks_cannot_claim_one_kind() -> None:
    spec = SINKS["syslog"]
    with pytest.raises(RuntimeError, match="two sinks register kind 'syslog'"):
        _index(spec, spec)


def test_a_kind_in_the_wrong_section_names_the_section_it_belongs_to() -> None:
    with pytest.raises(UnknownSinkKind, match=r"'syslog' is a siem sink: configure it under worker.siem"):
        validate_receiver({"kind": "syslog", "name": "x", "host": "h"})
    with pytest.raises(ValueError, match=r"worker.siem\[0\].kind: kind 'feishu' is a receiver sink: configure it "
                                         r"under alerting.routing.receivers"):
        parse_siem([{"kind": "feishu"}])
    with pytest.raises(UnknownSinkKind, match="unknown kind 'smtp'; one of: elasticsearch, splunk_hec"):
        spec_for("smtp", "siem")
    with pytest.raises(ValueError, match=r"worker.siem\[0\].kind: needs 'kind:'"):
        parse_siem([{"host": "h"}])


def test_receivers_validate_and_build_through_the_registry() -> None:
    config = validate_receiver({"kind": "wecom_robot", "name": "cs", "key": "k"})
    assert isinstance(build_sink(config), WeComRobotSink)
    assert SINK_CONFIG.validate_python({"kind": "wecom_robot", "name": "cs", "key": "k"}) == config
    with pytest.raises(ValidationError) as err:
        validate_receiver({"kind": "wecom_robot", "name": "cs", "key": "k", "per_minute": "many"})
    assert err.value.errors()[0]["loc"] == ("per_minute",)  # no discriminator tag in the location


def test_siem_type_is_read_as_a_deprecated_alias_of_kind() -> None:
    warnings: list[str] = []
    (old,) = parse_siem([{"type": "syslog", "name": "qradar", "host": "siem.internal"}], warn=warnings.append)
    (new,) = parse_siem([{"kind": "syslog", "name": "qradar", "host": "siem.internal"}], warn=warnings.append)
    assert old == new and isinstance(old.config, SyslogSinkConfig)
    assert warnings == ["worker.siem[0]: 'type: syslog' is deprecated; write 'kind: syslog'"]
    with pytest.raises(ValueError, match="has both 'kind' and the deprecated 'type'; keep only 'kind'"):
        parse_siem([{"type": "syslog", "kind": "syslog", "host": "h"}])


def test_check_config_warns_about_type_without_failing_and_fails_on_a_wrong_kind(tmp_path: Path) -> None:
    old = tmp_path / "old.yaml"
    old.write_text("worker:\n  siem:\n    - {type: syslog, name: qradar, host: siem.internal}\n")
    (issue,) = check_config(old)
    assert issue.warning and issue.path == "worker.siem[0].type" and "write 'kind: syslog'" in issue.message
    result = CliRunner().invoke(main, ["check-config", str(old)])
    assert result.exit_code == 0, result.output
    assert "warning: worker.siem[0].type: 'type: syslog' is deprecated; write 'kind: syslog'" in result.output
    assert f"{old}: OK" in result.output

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("worker:\n  siem:\n    - {kind: syslog, host: a}\n    - {kind: wecom_robot, key: k}\n"
                     "alerting:\n  routing:\n    route: {receiver: r}\n    receivers:\n"
                     "      - {name: r, kind: jsonl_file, directory: /tmp}\n")
    result = CliRunner().invoke(main, ["check-config", str(wrong)])
    assert result.exit_code == 1
    assert "worker.siem[1].kind: kind 'wecom_robot' is a receiver sink" in result.output
    assert "alerting.routing.receivers[0].kind: kind 'jsonl_file' is a siem sink: configure it under worker.siem" \
        in result.output


async def test_the_audit_backend_is_opened_by_its_kind(tmp_path: Path) -> None:
    store = await open_audit_store(AuditStoreConfig(kind="sqlite", path=tmp_path / "a.db"))
    try:
        assert isinstance(store, SqliteAuditStore)
    finally:
        await store.close()
