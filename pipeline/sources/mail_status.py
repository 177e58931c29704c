"""Daily mail-volume summary from log/mailstatus: one record per (domain, date), emitted once the date closed.

Emitting only closed dates (lag passed) keeps one summary per day instead of a changing running total. The
id is fingerprint("exmail.raw", corp_id, "mail_status", domain, date, sendsum, recvsum), so a re-emission
after a crash carries the same id, and the seen-set (rebuilt from the topic like the log pollers') stops it.
"""

from __future__ import annotations

from datetime import date, timedelta

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.exmail import each_date
from pipeline.records import RAW_SCHEMAS
from pipeline.sources._emit import Outgoing
from pipeline.sources._runtime import CorpRuntime, Poller, Runtime
from pipeline.sources.cursor import StreamCursor, rebuild_seen
from pipeline.sources.dedup import SeenSet, digest_of


class MailStatusPoller(Poller):
    stream = "mail_status"

    def __init__(self, rt: Runtime, corp: CorpRuntime, interval: float | None = None) -> None:
        super().__init__(rt, corp, interval if interval is not None else rt.poll.intervals.of("mail_status"))
        self.topic = rt.names.raw("mail_status")
        self.stream_id = f"{corp.corp_id}/mail_status"
        self.cursor = StreamCursor(stream=self.stream_id)
        self.seen = SeenSet()

    def _range(self, now: float) -> tuple[date, date] | None:
        cal = self.corp.calendar
        today = cal.date_of(now)
        closed = self.cursor.closed_through
        first = closed + timedelta(days=1) if closed else today - timedelta(days=self.rt.poll.backfill_days)
        last = cal.last_closable(first, today, now, self.rt.poll.lag_seconds)
        return (first, last) if last is not None else None

    async def prepare(self) -> None:
        self.cursor = self.rt.cursors.get(self.stream_id)
        today = self.corp.calendar.date_of(self.rt.clock.now())
        closed = self.cursor.closed_through
        first = closed + timedelta(days=1) if closed else today - timedelta(days=self.rt.poll.backfill_days)
        self.seen, scan = await rebuild_seen(
            self.rt.reader, self.topic, self.corp_id, first, self.cursor.scan_start()
        )
        self.cursor.mark_missing(each_date(first, today), scan.start)

    async def _domains(self) -> list[str]:
        if self.corp.config.domains:
            return [d.lower() for d in self.corp.config.domains]
        await self.corp.directory.ready.wait()
        return self.corp.directory.domains()

    async def poll_once(self) -> None:
        now = self.rt.clock.now()
        rng = self._range(now)
        if rng is None:
            return
        today = self.corp.calendar.date_of(now)
        unmarked = [d for d in each_date(rng[0], today) if d not in self.cursor.marks]
        if unmarked:
            offsets = await self.rt.reader.end_offsets(self.topic)
            self.cursor.mark_missing(unmarked, offsets)
        domains = await self._domains()
        for day in each_date(*rng):
            self.window = (day, day)
            items: list[tuple[date, Outgoing]] = []
            for domain in domains:
                summary = await self.corp.client.log_mailstatus(domain, day, day)
                rid = fingerprint("exmail.raw", self.corp_id, "mail_status", domain, day.isoformat(),
                                  summary.sendsum, summary.recvsum)
                if digest_of(rid) in self.seen:
                    continue
                env = Envelope(
                    schema=RAW_SCHEMAS["mail_status"], id=rid, corp_id=self.corp_id,
                    source="exmail-ingest/mail_status", occurred_at=utc_iso(self.corp.calendar.start_of(day)),
                    data={"record": {"sendsum": summary.sendsum, "recvsum": summary.recvsum},
                          "context": {"domain": domain, "date": day.isoformat()}},
                )
                items.append((day, Outgoing(self.topic, record_key(self.corp_id, domain), env)))
            await self.deliver_into(self.seen, items)
            self.cursor.close_through(day)
            self.seen.drop_through(day)
            await self.rt.cursors.save(self.cursor)
        self.window = None
