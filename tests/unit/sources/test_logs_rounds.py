"""Log poller delivery rounds: the next round is built while the last one is acknowledged, but a round is
produced only after the one before it was delivered in full; a failed round stops the run, what was delivered
stays in the seen-set, and the next run sends exactly the rest (no record lost, none twice)."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.sources import logs
from pipeline.sources._runtime import RunFailed
from pipeline.sources.logs import LogPoller

MAIL = "t.exmail.raw.mail_log"


async def test_a_failed_round_stops_the_run_and_the_retry_sends_only_the_rest(
        env: Any, local: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "DELIVERY_BATCH", 10)
    for i in range(50):
        env.api.add("mail_log", {"mailtype": 1, "sender": "alice@acme.com", "receiver": f"bob{i}@x.com",
                                 "subject": f"s{i}", "time": local("2026-03-10", 9, i), "status": 3})
    await env.load()
    poller = LogPoller(env.rt, env.corp, "mail_log")
    await poller.prepare()
    env.broker.fail = lambda _topic, value: value is not None and b'"subject":"s25"' in value
    with pytest.raises(RunFailed, match="1 of 10 records not delivered"):
        await poller.run_window()
    delivered = env.broker.ids(MAIL)
    assert len(delivered) == 29  # rounds 1-2 and round 3 but its refused record; rounds 4-5 never sent
    assert len(poller.seen) == 29
    env.broker.fail = lambda _topic, _value: False
    assert await poller.run_window() == 21
    ids = env.broker.ids(MAIL)
    assert len(ids) == len(set(ids)) == 50
    assert await poller.run_window() == 0
