"""newcount poller: mail/newcount for configured mailboxes every few seconds; a rise of the unread count becomes
an exmail.raw.new_mail record (see `pipeline.sources.new_mail` for ids and the correlation rule).

The last count per mailbox is kept in exmail.state.cursors under "<corp_id>/newcount/<userid>" and written only
after the record for a rise is delivered, so a restart neither misses a rise nor reports it with another id.
The first observation of a mailbox is a baseline (nothing emitted).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pipeline.envelope import utc_iso
from pipeline.sources import new_mail
from pipeline.sources._emit import Outgoing
from pipeline.sources._runtime import CorpRuntime, Poller, RunFailed, Runtime

log = logging.getLogger(__name__)


class NewcountPoller(Poller):
    stream = "newcount"

    def __init__(self, rt: Runtime, corp: CorpRuntime, interval: float | None = None) -> None:
        cfg = corp.config.newcount
        super().__init__(rt, corp, interval if interval is not None else cfg.interval_seconds)
        self.topic = rt.names.raw("new_mail")
        self.mailboxes = [m.strip() for m in cfg.mailboxes if m.strip()]
        self.last: dict[str, dict[str, Any]] = {}

    def _key(self, userid: str) -> str:
        return f"{self.corp_id}/newcount/{userid.lower()}"

    async def prepare(self) -> None:
        self.last = {}
        for mailbox in self.mailboxes:
            value = self.rt.cursors.value(self._key(mailbox))
            if value is not None and isinstance(value.get("count"), int):
                self.last[mailbox] = value

    async def _observe(self, mailbox: str) -> None:
        result = await self.corp.client.mail_newcount(mailbox)
        now = self.rt.clock.now()
        count = result.count
        prev = self.last.get(mailbox)
        state = {"stream": self._key(mailbox), "count": count, "observed_at": utc_iso(now)}
        if prev is not None and prev["count"] == count:
            return
        if prev is not None and count > prev["count"]:
            key, env = new_mail.from_poll(self.corp_id, mailbox, count, int(prev["count"]),
                                          str(prev.get("observed_at")), now, "exmail-ingest/newcount")
            await self.rt.emitter.deliver_all([Outgoing(self.topic, key, env)], corp=self.corp_id,
                                              stream=self.stream)
        await self.rt.cursors.put(self._key(mailbox), state)
        self.last[mailbox] = state

    async def poll_once(self) -> None:
        results = await asyncio.gather(*(self._observe(m) for m in self.mailboxes), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        for err in errors:
            if isinstance(err, asyncio.CancelledError):
                raise err
        if errors:
            raise RunFailed(f"mail/newcount failed for {len(errors)} of {len(self.mailboxes)} mailboxes: "
                            f"{errors[0]}") from errors[0]
