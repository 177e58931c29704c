"""The options poller: baseline, changes and drift from the policy (naming the rule); one failing user
keeps the others."""

from __future__ import annotations

from typing import Any

from pipeline.exmail import RateLimited
from pipeline.policy import OptionPolicy
from pipeline.sources.directory import DirectoryPoller
from pipeline.sources.options import OptionsPoller, drift_from, option_changes

from .conftest import company

OPT = "t.exmail.raw.options"


def test_drift_and_changes() -> None:
    assert drift_from({1: "1", 3: "0"}, {"1": "0", "2": "1", "3": "0"}) == [
        {"type": 1, "desired": "1", "actual": "0", "rule": "default"}]
    assert drift_from({2: "0"}, {}) == [{"type": 2, "desired": "0", "actual": None, "rule": "default"}]
    assert option_changes(None, {"1": "0"}) == {}
    assert option_changes({"1": "0", "3": "1"}, {"1": "1", "3": "1"}) == {"1": {"from": "0", "to": "1"}}


async def test_options_baseline_changes_and_drift(env: Any, validate: Any) -> None:
    company(env.api)
    env.corp.directory.users = {u["userid"]: u for u in env.api.users}
    env.corp.directory.ready.set()
    env.api.options["bob@acme.com"] = {1: "1", 2: "1", 3: "0", 4: "1"}
    poller = OptionsPoller(env.rt, env.corp)
    await poller.prepare()
    await poller.poll_once()
    events = {e["data"]["userid"]: e["data"] for e in env.broker.values(OPT)}
    for e in env.broker.values(OPT):
        validate(e)
    assert events["alice@acme.com"]["previous"] is None
    assert events["alice@acme.com"]["drift"] == [{"type": 1, "desired": "1", "actual": "0", "rule": "default"},
                                                 {"type": 3, "desired": "0", "actual": "1", "rule": "default"}]
    assert events["bob@acme.com"]["drift"] == []
    await poller.poll_once()
    assert len(env.broker.values(OPT)) == 2  # nothing changed

    env.api.options["bob@acme.com"][3] = "1"  # POP switched on: change + drift
    restarted = env.fresh()
    again = OptionsPoller(restarted.rt, restarted.corp)
    restarted.corp.directory.users = env.corp.directory.users
    restarted.corp.directory.ready.set()
    await again.prepare()
    await again.poll_once()
    last = env.broker.values(OPT)[-1]["data"]
    assert len(env.broker.values(OPT)) == 3
    assert last["userid"] == "bob@acme.com" and last["changed"] == {"3": {"from": "0", "to": "1"}}
    assert last["previous"]["3"] == "0" and last["drift"] == [{"type": 3, "desired": "0", "actual": "1",
                                                                        "rule": "default"}]


async def test_options_failure_for_one_user_keeps_others(env: Any) -> None:
    company(env.api)
    env.corp.directory.users = {u["userid"]: u for u in env.api.users}
    env.corp.directory.ready.set()
    env.api.errors["useroption/get:alice@acme.com"] = [RateLimited(45009, "freq", "useroption/get")]
    poller = OptionsPoller(env.rt, env.corp)
    await poller.prepare()
    assert not await poller.run_once()
    assert [e["data"]["userid"] for e in env.broker.values(OPT)] == ["bob@acme.com"]
    assert await poller.run_once()
    assert sorted(e["data"]["userid"] for e in env.broker.values(OPT)) == ["alice@acme.com", "bob@acme.com"]


async def test_options_drift_names_the_policy_rule(env: Any, validate: Any) -> None:
    """The directory poller snapshots the policy's groups; the options poller resolves each member's policy."""
    company(env.api)
    policy = OptionPolicy.model_validate({"departments": {"R&D": {"imap_smtp": "0"}, "R&D/Mail team": {3: "0"}},
                                          "groups": {"all@acme.com": {"pop_smtp": "1"}},
                                          "users": {"bob@acme.com": {"imap_smtp": "1"}}})
    env.corp.config = env.corp.config.model_copy(update={"desired_options": {}, "policy": policy})
    directory = DirectoryPoller(env.rt, env.corp)
    await directory.prepare()
    await directory.poll_once()
    assert set(env.corp.directory.groups) == {"all@acme.com"}
    env.api.options["alice@acme.com"] = {1: "0", 2: "1", 3: "0", 4: "0"}
    env.api.options["bob@acme.com"] = {1: "0", 2: "0", 3: "1", 4: "0"}
    poller = OptionsPoller(env.rt, env.corp)
    await poller.prepare()
    await poller.poll_once()
    drift = {e["data"]["userid"]: e["data"]["drift"] for e in env.broker.values(OPT)}
    assert drift["alice@acme.com"] == [{"type": 2, "desired": "0", "actual": "1", "rule": "department:R&D"},
                                       {"type": 3, "desired": "1", "actual": "0", "rule": "group:all@acme.com"}]
    assert drift["bob@acme.com"] == [{"type": 2, "desired": "1", "actual": "0", "rule": "user:bob@acme.com"}]
    for e in env.broker.values(OPT):
        validate(e)
