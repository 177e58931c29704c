"""exmail.raw.new_mail records, shared by the callback endpoint (push) and the newcount poller (poll).

Correlation rule: correlation_key = fingerprint("new_mail", corp_id, userid, count_after), where count_after is
the unread count right after the arrival: `NewCount` of a pushed `Mail`, the polled count of a `NewCount`
record. A mail seen by both the push and the next poll therefore carries the same key, as long as no other
mail arrived or was read in between (then the poll's count matches the push of the last arrival only).
`UnRead` pushes (the count changed because mail was read) correlate with nothing and carry null.

Ids: Mail -> fingerprint("new_mail", corp_id, "Mail", mail_id); UnRead -> fingerprint("new_mail", corp_id,
"UnRead", userid, time, unread_count); poll -> fingerprint("new_mail", corp_id, "NewCount", userid, count,
window_start) where window_start is when the previous (lower) count was first observed.
"""

from __future__ import annotations

from typing import Any

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.exmail.crypto import MailEvent, UnReadEvent
from pipeline.records import RAW_SCHEMAS

SCHEMA = RAW_SCHEMAS["new_mail"]


def correlation_key(corp_id: str, userid: str, count_after: int) -> str:
    """Userids are mailbox addresses, compared case-insensitively (the push and the config may differ)."""
    return fingerprint("new_mail", corp_id, userid.strip().lower(), count_after)


def _data(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "via": None, "msg_type": None, "userid": None, "mail_id": None, "from": None, "subject": None,
        "time": None, "new_count": None, "unread_count": None, "previous_count": None, "correlation_key": None,
    }
    base.update(fields)
    return base


def from_push(corp_id: str, event: MailEvent | UnReadEvent, source: str) -> tuple[bytes, Envelope]:
    """(Kafka key, envelope) of a verified, decrypted callback message."""
    if isinstance(event, MailEvent):
        userid = event.to_user_id
        rid = fingerprint("new_mail", corp_id, "Mail", event.mail_id)
        data = _data(via="callback", msg_type="Mail", userid=userid, mail_id=event.mail_id,
                     subject=event.title, time=event.time, new_count=event.new_count,
                     correlation_key=correlation_key(corp_id, userid, event.new_count))
        data["from"] = event.from_user
    else:
        userid = event.user_id
        rid = fingerprint("new_mail", corp_id, "UnRead", userid, event.time, event.unread_count)
        data = _data(via="callback", msg_type="UnRead", userid=userid, time=event.time,
                     unread_count=event.unread_count)
    env = Envelope(schema=SCHEMA, id=rid, corp_id=corp_id, source=source,
                   occurred_at=utc_iso(float(max(event.time, 0))), data=data)
    return record_key(corp_id, userid), env


def from_poll(
    corp_id: str, userid: str, count: int, previous: int, window_start: str, observed_at: float, source: str
) -> tuple[bytes, Envelope]:
    """(Kafka key, envelope) of an unread-count rise seen by the newcount poller."""
    data = _data(via="poll", msg_type="NewCount", userid=userid, time=int(observed_at), new_count=count,
                 previous_count=previous, correlation_key=correlation_key(corp_id, userid, count))
    env = Envelope(schema=SCHEMA, id=fingerprint("new_mail", corp_id, "NewCount", userid, count, window_start),
                   corp_id=corp_id, source=source, occurred_at=utc_iso(observed_at), data=data)
    return record_key(corp_id, userid), env
