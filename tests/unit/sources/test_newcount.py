"""The newcount poller: rises of a mailbox's unread count become records."""

from __future__ import annotations

from typing import Any

from pipeline.envelope import fingerprint
from pipeline.sources.newcount import NewcountPoller


async def test_newcount_rises_become_records(env: Any, validate: Any) -> None:
    box = "cs@acme.com"
    env.corp.config = env.corp.config.model_validate({**env.corp.config.model_dump(),
                                                      "newcount": {"mailboxes": [box]}})
    await env.load()
    poller = NewcountPoller(env.rt, env.corp)
    await poller.prepare()
    env.api.counts[box] = 2
    await poller.poll_once()  # baseline
    assert env.broker.values("t.exmail.raw.new_mail") == []
    env.clock.value += 5
    await poller.poll_once()  # unchanged
    env.api.counts[box] = 4
    env.clock.value += 5
    await poller.poll_once()
    values = env.broker.values("t.exmail.raw.new_mail")
    assert len(values) == 1
    validate(values[0])
    data = values[0]["data"]
    assert (data["via"], data["msg_type"], data["new_count"], data["previous_count"]) == ("poll", "NewCount", 4, 2)
    assert data["correlation_key"] == fingerprint("new_mail", env.corp.corp_id, box, 4)

    env.api.counts[box] = 1  # mail read: no record, but the new low is remembered
    await poller.poll_once()
    env.api.counts[box] = 2
    restarted = env.fresh()
    restarted.corp.config = env.corp.config
    await restarted.load()
    again = NewcountPoller(restarted.rt, restarted.corp)
    await again.prepare()
    await again.poll_once()
    values = env.broker.values("t.exmail.raw.new_mail")
    assert [v["data"]["new_count"] for v in values] == [4, 2]
    assert values[1]["data"]["previous_count"] == 1
