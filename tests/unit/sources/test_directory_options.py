"""Directory and options pollers: snapshot diffs into events, state across restarts, policy drift."""

from __future__ import annotations

from typing import Any

from pipeline.exmail import RateLimited
from pipeline.policy import OptionPolicy
from pipeline.sources._diff import department_paths, diff_snapshots
from pipeline.sources.directory import DirectoryPoller
from pipeline.sources.logs import LogPoller
from pipeline.sources.options import OptionsPoller, drift_from, option_changes

DIR = "t.exmail.raw.directory"
OPT = "t.exmail.raw.options"


def company(api: Any) -> None:
    api.departments = [
        {"id": 1, "name": "Acme", "parentid": 0, "order": 0},
        {"id": 4913577855806636138, "name": "R&D", "parentid": 1, "order": 10},
        {"id": 4913577855806636200, "name": "Mail team", "parentid": 4913577855806636138, "order": 40},
    ]
    api.users = [
        {"userid": "alice@acme.com", "name": "Alice", "department": [4913577855806636200], "enable": "1",
         "position": "Engineer"},
        {"userid": "bob@acme.com", "name": "Bob", "department": [1, 4913577855806636138], "enable": "1"},
    ]
    api.groups = {"all@acme.com": {"groupid": "all@acme.com", "groupname": "All", "userlist": ["alice@acme.com"],
                                   "allow_type": 0}}


def test_diff_snapshots_kinds() -> None:
    before: dict[str, dict[str, Any]] = {"a": {"name": "A", "enable": 1}, "b": {"name": "B", "enable": "1"},
                                         "c": {"name": "C"}}
    after: dict[str, dict[str, Any]] = {"a": {"name": "A2", "enable": 1}, "b": {"name": "B", "enable": "0"},
                                        "d": {"name": "D"}}
    changes = {c.object_id: c for c in diff_snapshots(before, after, track_enable=True)}
    assert changes["a"].change == "updated" and changes["a"].changed_fields == ("name",)
    assert changes["b"].change == "disabled" and changes["b"].changed_fields == ("enable",)
    assert changes["c"].change == "deleted" and changes["c"].after is None
    assert changes["d"].change == "created" and changes["d"].before is None
    back = {c.object_id: c for c in diff_snapshots(after, before, track_enable=True)}
    assert back["b"].change == "enabled"
    assert diff_snapshots(before, before) == []


def test_department_paths() -> None:
    depts = {"1": {"name": "Acme", "parentid": 0}, "10": {"name": "R&D", "parentid": 1},
             "11": {"name": "Mail team", "parentid": 10}}
    assert department_paths(depts) == {"1": "Acme", "10": "R&D", "11": "R&D/Mail team"}


async def test_directory_baseline_then_diffs(env: Any, validate: Any) -> None:
    company(env.api)
    env.corp.config = env.corp.config.model_copy(update={"groups": ["all@acme.com"]})
    poller = DirectoryPoller(env.rt, env.corp)
    await poller.prepare()
    assert not env.corp.directory.ready.is_set()
    await poller.poll_once()
    assert env.broker.values(DIR) == []  # the first snapshot is a silent baseline
    assert env.corp.directory.ready.is_set()
    alice = env.corp.directory.users["alice@acme.com"]
    assert alice["department_paths"] == ["R&D/Mail team"]
    assert env.corp.directory.users["bob@acme.com"]["department_paths"] == ["Acme", "R&D"]

    env.api.users[0] = {**env.api.users[0], "position": "Lead"}
    env.api.users[1] = {**env.api.users[1], "enable": "0"}
    env.api.users.append({"userid": "carol@acme.com", "name": "Carol", "department": [1], "enable": "1"})
    env.api.departments[2] = {**env.api.departments[2], "name": "Mail"}
    del env.api.groups["all@acme.com"]
    await poller.poll_once()
    events = env.broker.values(DIR)
    for e in events:
        validate(e)
    got = {(e["data"]["object_type"], e["data"]["object_id"]): e["data"] for e in events}
    assert got[("user", "alice@acme.com")]["change"] == "updated"
    assert got[("user", "alice@acme.com")]["changed_fields"] == ["department_paths", "position"]
    assert got[("user", "alice@acme.com")]["after"]["department_paths"] == ["R&D/Mail"]
    assert got[("user", "bob@acme.com")]["change"] == "disabled"
    assert got[("user", "carol@acme.com")]["change"] == "created"
    assert got[("department", "4913577855806636200")]["change"] == "updated"
    assert got[("group", "all@acme.com")]["change"] == "deleted"
    assert len(events) == 5

    restarted = env.fresh()  # state survives: no events when nothing changed
    again = DirectoryPoller(restarted.rt, restarted.corp)
    await again.prepare()
    assert restarted.corp.directory.ready.is_set()
    assert set(restarted.corp.directory.users) == {"alice@acme.com", "bob@acme.com", "carol@acme.com"}
    await again.poll_once()
    assert len(env.broker.values(DIR)) == 5


async def test_groups_named_by_the_operation_log_are_snapshotted(env: Any, local: Any) -> None:
    company(env.api)
    env.api.groups["sales@acme.com"] = {"groupid": "sales@acme.com", "groupname": "Sales", "userlist": [],
                                        "allow_type": 1}
    env.rt.poll = env.rt.poll.model_copy(update={"directory_baseline_events": True})
    env.api.add("operation_log", {"time": local("2026-03-10", 9), "operator": "admin@acme.com", "type": 32,
                                  "operand": "sales@acme.com"})
    await env.load()
    ops = LogPoller(env.rt, env.corp, "operation_log")
    await ops.prepare()
    await ops.run_window()
    env.corp.config = env.corp.config.model_copy(update={"groups": ["all@acme.com"]})
    poller = DirectoryPoller(env.rt, env.corp)
    await poller.prepare()
    await poller.poll_once()
    groups = {e["data"]["object_id"] for e in env.broker.values(DIR) if e["data"]["object_type"] == "group"}
    assert groups == {"all@acme.com", "sales@acme.com"}


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
