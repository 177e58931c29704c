"""pipeline/sources/pollers.py: a corp's pollers from the stream catalog, each only with its apps' secrets."""

from __future__ import annotations

import logging

import pytest

from pipeline.sources.config import CorpConfig
from pipeline.sources.directory import DirectoryPoller
from pipeline.sources.logs import LoginLogPoller, LogPoller
from pipeline.sources.mail_status import MailStatusPoller
from pipeline.sources.newcount import NewcountPoller
from pipeline.sources.options import OptionsPoller
from pipeline.sources.pollers import build_pollers, enabled

from .conftest import CORP, Env, make_env

ALL_APPS = {"contact": "env:A", "mail_notice": "env:B", "system_log": "env:C", "function_setting": "env:D"}


def _env(env: Env, **corp: object) -> Env:
    config = CorpConfig.model_validate({"name": "acme", "corp_id": CORP, **corp})
    return make_env(env.broker, env.clock, env.api, env.rt.poll, config)


def test_every_stream_with_its_secrets(env: Env) -> None:
    e = _env(env, secrets=ALL_APPS, newcount={"mailboxes": ["cs@acme.cn"]})
    pollers = build_pollers(e.rt, e.corp)
    assert next(iter(pollers)) == "directory"
    assert {name: type(p) for name, p in pollers.items()} == {
        "directory": DirectoryPoller, "mail_log": LogPoller, "login_log": LoginLogPoller,
        "operation_log": LogPoller, "batchjob_log": LogPoller, "mail_status": MailStatusPoller,
        "newcount": NewcountPoller, "options": OptionsPoller,
    }
    assert pollers["operation_log"].interval == 300.0 and pollers["directory"].interval == 900.0


def test_a_stream_without_its_apps_secret_is_skipped_with_a_warning(env: Env,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    e = _env(env, secrets={"system_log": "env:C"})
    with caplog.at_level(logging.WARNING, logger="pipeline.sources.pollers"):
        pollers = build_pollers(e.rt, e.corp)
    # login_log also needs the address book; newcount has no mailboxes to poll
    assert sorted(pollers) == ["batchjob_log", "mail_log", "mail_status", "operation_log"]
    assert e.corp.directory.ready.is_set()  # no directory poller: the per-user pollers run on an empty list
    assert "stream login_log disabled: no secret for app(s) contact" in caplog.text
    assert "stream options disabled: no secret for app(s) function_setting, contact" in caplog.text
    assert caplog.text.count("stream directory disabled") == 1


def test_only_the_listed_streams(env: Env) -> None:
    e = _env(env, secrets=ALL_APPS, streams=["mail_log", "newcount"])
    assert not enabled(e.corp.config, "newcount")  # listed, but no mailboxes
    assert sorted(build_pollers(e.rt, e.corp)) == ["mail_log"]
