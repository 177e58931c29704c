"""The actions config section."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

import pipeline.actions as package
from pipeline.actions import (
    ActionKind,
    ActionsConfig,
)
from pipeline.actions.config import parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), ("45", 45.0), ("15m", 900.0), ("1d12h", 129600.0), ("30d", 2592000.0), ("1w", 604800.0)],
)
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "1x", True])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_defaults_are_safe():
    cfg = ActionsConfig()
    assert cfg.dry_run and not cfg.hr.create_departments and not cfg.drift.remediate
    assert cfg.hr.leaver_grace == 30 * 86400 and cfg.hourly_limits[ActionKind.DISABLE_ACCOUNT] == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"approval": {"secret": "plain-secret-value"}}, "secret reference"),
        ({"hr": {"approval": True}}, "approval.secret is not set"),
        ({"security": {"routes": [{"name": "r", "actions": ["joiner"]}]}}, "not security actions"),
        ({"drift": {"types": [4]}}, "read-only"),
        (
            {"hr": {"delivery": {"type": "webhook", "url": "https://x.example", "secret": "inline"}}},
            "secret reference",
        ),
        ({"hr": {"password": {"length": 40}}}, "less than or equal"),
        ({"hourly_limits": {"disable_account": -1}}, ">= 0"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_config_errors_name_the_problem(data, message):
    with pytest.raises(ValidationError, match=message):
        ActionsConfig.model_validate(data)


def test_admins_and_allow_list_are_normalised():
    cfg = ActionsConfig(admins=[" Admin@Corp.com "], allow_list=["@Partner.ORG"])
    assert cfg.admins == ["admin@corp.com"] and cfg.allow_list == ["@partner.org"]


def test_hourly_limits_merge_over_the_defaults():
    cfg = ActionsConfig(hourly_limits={"disable_account": 2})
    assert cfg.hourly_limits[ActionKind.DISABLE_ACCOUNT] == 2
    assert cfg.hourly_limits[ActionKind.DISABLE_IMAP] == 20


def test_readme_example_config_is_valid():
    text = (Path(package.__file__).parent / "README.md").read_text()
    example = yaml.safe_load(text.split("```yaml")[1].split("```")[0])
    cfg = ActionsConfig.model_validate(example["actions"])
    assert cfg.security.routes[1].approval and not cfg.dry_run
