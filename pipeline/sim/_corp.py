"""One simulated corp: address book, logs, mailboxes, the event schedule (arrivals and reads on the
simulated clock), SSO authkeys, and the new-mail ground truth."""

from __future__ import annotations

import heapq
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.envelope import fingerprint
from pipeline.exmail.crypto import MailEvent, UnReadEvent, generate_aes_key
from pipeline.sim._callback import CallbackPusher
from pipeline.sim._company import Company, build_company
from pipeline.sim._state import Directory, LogStore, Mail, Mailboxes
from pipeline.sim.clock import SimClock
from pipeline.sim.config import SimConfig

SSO_TTL = 300


@dataclass
class _Authkey:
    userid: str
    expires_at: float
    used: bool = False


class CorpState:
    def __init__(self, config: SimConfig, clock: SimClock) -> None:
        self.config = config
        self.clock = clock
        self.corp_id = config.effective_corp_id
        self.domain = config.domain
        self.api_operator = config.choices.api_operator or f"admin@{config.domain}"
        self.logs = LogStore(clock)
        self.directory = Directory([config.domain], config.company_name, random.Random(f"dirids:{config.seed}"),
                                   self._on_op, config.choices.invalid_param_errcode)
        self.sync_choices()
        self.company: Company = build_company(self.directory, config.domain, config.users, config.seed)
        self.mailboxes = Mailboxes()
        self.callback_token = config.callback_token or config.derived("callback_token", 32)
        self.callback_aes_key = config.callback_aes_key or _aes_key_from(config.derived("callback_aes_key", 64))
        self.pusher = CallbackPusher(self.corp_id, self.callback_token, self.callback_aes_key)
        self._events: list[tuple[int, int, str, Any]] = []
        self._event_seq = 0
        self._mail_seq = 0
        self.new_mail_truth: list[dict[str, Any]] = []
        self._authkeys: dict[str, _Authkey] = {}
        self.sso_logins: list[dict[str, Any]] = []
        self.directory_version = 0
        self.op_meta: dict[str, Any] | None = None
        self.initial = self.snapshot()

    def sync_choices(self) -> None:
        """Copy the address-book choices into the directory (at start and on POST /_sim/choices)."""
        choices = self.config.choices
        self.directory.max_departments = choices.max_departments
        self.directory.group_invalid_members = choices.group_invalid_members

    def snapshot(self) -> dict[str, Any]:
        """What the agreement checker replays the operation log from (users with enable, departments, groups)."""
        d = self.directory
        return {"users": {u.userid: u.enable for u in d.users.values()},
                "departments": sorted(x.name for x in d.departments.values()),
                "groups": sorted(d.groups), "aliases": dict(d.aliases)}

    def __repr__(self) -> str:
        return f"CorpState(corp_id={self.corp_id!r}, users={len(self.directory.users)})"

    # --- operation log for API writes

    def _on_op(self, op_type: int, operand: str, remark: str | None) -> None:
        """Every address-book write lands here: an API write (now, `api_operator`) or one the traffic generator
        applies (its time, operator and visibility in `op_meta`), so the log and the directory never disagree."""
        self.directory_version += 1
        meta = self.op_meta
        if meta is None:
            record: dict[str, Any] = {"time": int(self.clock.now()), "operator": self.api_operator,
                                      "type": op_type, "operand": operand}
            if remark is not None:
                record["remark"] = remark
            self.logs.add("operation_log", record, origin="api")
            return
        record = {"time": meta["time"], "operator": meta["operator"], "type": meta.get("type", op_type),
                  "operand": operand}
        if meta.get("remark", remark) is not None:
            record["remark"] = meta.get("remark", remark)
        self.logs.add("operation_log", record, meta["visible_at"], origin="traffic")

    def schedule_call(self, at: int, action: Callable[[], None]) -> None:
        """Run `action` when the clock reaches `at` (the generator's address-book changes)."""
        self._schedule(at, "call", action)

    # --- mail arrivals and reads

    def deliver(self, userid: str, from_user: str, subject: str, at: int, read_at: int | None = None,
                push: bool = True, mail_id: str | None = None) -> Mail:
        """A mail lands in `userid`'s mailbox at `at`; pushes fire when the clock passes `at` (and `read_at`)."""
        self._mail_seq += 1
        mail = Mail(mail_id or secrets.token_urlsafe(32)[:43] + "=", userid, from_user, subject, int(at),
                    None if read_at is None else max(int(read_at), int(at)), self._mail_seq)
        self.mailboxes.deliver(mail)
        self._schedule(mail.time, "arrive" if push else "arrive_silent", mail)
        if mail.read_at is not None:
            self._schedule(mail.read_at, "read" if push else "read_silent", mail)
        return mail

    def mark_read(self, mail: Mail, at: int, push: bool = True) -> None:
        if mail.read_at is not None and mail.read_at <= at:
            return
        mail.read_at = max(int(at), mail.time)
        self._schedule(mail.read_at, "read" if push else "read_silent", mail)

    def _schedule(self, at: int, kind: str, payload: Any) -> None:
        self._event_seq += 1
        heapq.heappush(self._events, (at, self._event_seq, kind, payload))

    def count_after_arrival(self, mail: Mail) -> int:
        """Unread count right after `mail` arrived (mails of the same second count in arrival order)."""
        count = 0
        for m in self.mailboxes.mails.get(mail.userid, ()):
            if (m.time, m.seq) > (mail.time, mail.seq):
                continue
            if m.read_at is not None and m.read_at <= mail.time and m is not mail:
                continue
            count += 1
        return count

    def process_due(self, now: float) -> int:
        """Fire every scheduled arrival/read with time <= now; returns how many fired."""
        fired = 0
        while self._events and self._events[0][0] <= now:
            at, _, kind, payload = heapq.heappop(self._events)
            fired += 1
            if kind == "call":
                payload()
                continue
            mail: Mail = payload
            if kind.startswith("arrive"):
                count = self.count_after_arrival(mail)
                record_id = fingerprint("new_mail", self.corp_id, "Mail", mail.mail_id)
                corr = fingerprint("new_mail", self.corp_id, mail.userid, count)
                truth = {"msg_type": "Mail", "userid": mail.userid, "mail_id": mail.mail_id, "from": mail.from_user,
                         "subject": mail.subject, "time": mail.time, "new_count": count, "unread_count": None,
                         "id": record_id, "correlation_key": corr, "pushed": False}
                if kind == "arrive":
                    event = MailEvent(self.corp_id, mail.mail_id, mail.userid, mail.from_user, mail.subject,
                                      mail.time, count)
                    truth["pushed"] = self.pusher.push(event, record_id, corr) is not None
                self.new_mail_truth.append(truth)
            else:
                if mail.read_at != at or mail.userid not in self.directory.users:
                    continue  # re-read, or the mailbox was deleted meanwhile
                count = self.mailboxes.unread(mail.userid, at)
                record_id = fingerprint("new_mail", self.corp_id, "UnRead", mail.userid, at, count)
                truth = {"msg_type": "UnRead", "userid": mail.userid, "mail_id": mail.mail_id, "from": None,
                         "subject": None, "time": at, "new_count": None, "unread_count": count,
                         "id": record_id, "correlation_key": None, "pushed": False}
                if kind == "read":
                    unread = UnReadEvent(self.corp_id, mail.userid, at, count)
                    truth["pushed"] = self.pusher.push(unread, record_id, None) is not None
                self.new_mail_truth.append(truth)
        return fired

    # --- SSO

    def issue_authkey(self, userid: str) -> str:
        key = secrets.token_urlsafe(24)
        self._authkeys[key] = _Authkey(userid, time.monotonic() + SSO_TTL)
        return key

    def consume_authkey(self, key: str, userid: str | None) -> str | None:
        """The userid the key logs in, once, within 300 s; None when unknown, used, expired or mismatched."""
        entry = self._authkeys.get(key)
        if entry is None or entry.used or entry.expires_at < time.monotonic():
            return None
        if userid is not None and userid.lower() != entry.userid:
            return None
        entry.used = True
        return entry.userid


def _aes_key_from(hex64: str) -> str:
    return generate_aes_key(bytes.fromhex(hex64))
