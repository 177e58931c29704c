"""The directory poller: a baseline snapshot, then diffs; groups named by the operation log are snapshotted."""

from __future__ import annotations

from typing import Any

from pipeline.sources.directory import DirectoryPoller
from pipeline.sources.logs import LogPoller

from .conftest import company

DIR = "t.exmail.raw.directory"


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
