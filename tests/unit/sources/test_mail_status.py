"""The mail_status poller: each closed date summarised once."""

from __future__ import annotations

from datetime import date
from typing import Any

from pipeline.envelope import fingerprint
from pipeline.sources.mail_status import MailStatusPoller


async def test_mail_status_summarises_closed_dates_once(env: Any, local: Any, validate: Any) -> None:
    env.corp.config = env.corp.config.model_copy(update={"domains": ["acme.com"]})
    for day, n in (("2026-03-08", 3), ("2026-03-09", 2), ("2026-03-10", 1)):
        for i in range(n):
            env.api.add("mail_log", {"mailtype": 1, "sender": "a@acme.com", "receiver": f"x{i}@o.com",
                                     "subject": "s", "time": local(day, 9, i), "status": 3})
    await env.load()
    poller = MailStatusPoller(env.rt, env.corp)
    await poller.prepare()
    await poller.poll_once()
    await poller.poll_once()
    values = env.broker.values("t.exmail.raw.mail_status")
    for v in values:
        validate(v)
    assert [(v["data"]["context"]["date"], v["data"]["record"]["sendsum"]) for v in values] == [
        ("2026-03-08", 3), ("2026-03-09", 2)]
    assert values[0]["id"] == fingerprint("exmail.raw", env.corp.corp_id, "mail_status", "acme.com",
                                          "2026-03-08", 3, 0)
    assert poller.cursor.closed_through == date(2026, 3, 9)
