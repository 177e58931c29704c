"""exmail.raw.mail_log -> ECS email.* + OCSF 4009 Email Activity (Send for mailtype 1, Receive for 2).

Status values the API documentation does not list are valid input from a newer API: they map to
status_name "unknown", event.outcome "unknown" and keep their number.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    EMAIL_ACTIVITY,
    NormalizeError,
    build_event,
    ecs_user,
    iso_from_unix,
    opt_str,
    related,
    req_date,
    req_int,
    req_obj,
    req_str,
)

DATASET = "exmail.mail_log"
PROVIDER = "log/mail"


class MailStatus(NamedTuple):
    name: str
    description: str
    action: str
    outcome: str
    ocsf_status_id: int
    disposition_id: int | None


MAIL_STATUS: dict[int, MailStatus] = {
    0: MailStatus("other", "other", "mail-other", "unknown", 99, None),
    1: MailStatus("sending", "sending", "mail-sending", "unknown", 0, None),
    2: MailStatus("bounced", "bounced", "mail-bounced", "failure", 2, None),
    3: MailStatus("sent", "sent successfully", "mail-sent", "success", 1, None),
    4: MailStatus("send_failed", "sending failed", "mail-send-failed", "failure", 2, None),
    11: MailStatus("intercepted", "incoming mail intercepted", "mail-intercepted", "failure", 2, 2),
    12: MailStatus("spam", "received into the spam folder", "mail-delivered-spam", "success", 1, 3),
    13: MailStatus("inbox", "received into the inbox", "mail-delivered-inbox", "success", 1, 1),
    14: MailStatus("folder", "received into a personal folder", "mail-delivered-folder", "success", 1, 1),
}
UNKNOWN_STATUS = MailStatus("unknown", "status not in the API documentation", "mail-unknown-status", "unknown", 0,
                            None)
# OCSF disposition_id (security_control profile) captions for the ids used above.
DISPOSITIONS: dict[int, str] = {1: "Allowed", 2: "Blocked", 3: "Quarantined"}


class MailType(NamedTuple):
    name: str
    direction: str
    ocsf_activity_id: int
    ocsf_direction_id: int
    ocsf_direction: str


MAIL_TYPES: dict[int, MailType] = {
    1: MailType("sent", "outbound", 1, 2, "Outbound"),
    2: MailType("received", "inbound", 2, 1, "Inbound"),
}


def to_event(raw: Envelope) -> dict[str, Any]:
    record = req_obj(raw.data, "record", "data")
    context = req_obj(raw.data, "context", "data")
    req_date(context, "date", "data.context")
    mailtype = req_int(record, "mailtype", "data.record")
    kind = MAIL_TYPES.get(mailtype)
    if kind is None:
        raise NormalizeError(f"data.record.mailtype must be 1 (sent) or 2 (received), got {mailtype}")
    sender = req_str(record, "sender", "data.record")
    receiver = req_str(record, "receiver", "data.record")
    subject = opt_str(record, "subject", "data.record")
    time = req_int(record, "time", "data.record", minimum=0)
    status = req_int(record, "status", "data.record")
    st = MAIL_STATUS.get(status, UNKNOWN_STATUS)
    subject_user = sender if mailtype == 1 else receiver

    email: dict[str, Any] = {}
    ocsf_email: dict[str, Any] = {}
    if sender:
        email["from"] = {"address": [sender]}
        ocsf_email["from"] = sender
    if receiver:
        email["to"] = {"address": [receiver]}
        ocsf_email["to"] = [receiver]
    if subject is not None:
        email["subject"] = subject
        ocsf_email["subject"] = subject
    email["direction"] = kind.direction
    email["delivery_timestamp"] = iso_from_unix(time, "data.record.time")

    ocsf: dict[str, Any] = {"email": ocsf_email, "direction_id": kind.ocsf_direction_id,
                            "direction": kind.ocsf_direction}
    if st.disposition_id is not None:
        ocsf["disposition_id"] = st.disposition_id
        ocsf["disposition"] = DISPOSITIONS[st.disposition_id]

    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        category=["email"],
        types=["info"],
        action=st.action,
        outcome=st.outcome,
        message=f"{kind.direction} mail {sender or '?'} -> {receiver or '?'}: {st.description}",
        ocsf_class=EMAIL_ACTIVITY,
        activity_id=kind.ocsf_activity_id,
        status_id=st.ocsf_status_id,
        status_code=str(status),
        status_detail=st.description,
        profiles=["security_control"] if st.disposition_id is not None else None,
        exmail={
            "mail": {**record, "mailtype": mailtype, "mailtype_name": kind.name, "status": status,
                     "status_name": st.name, "time": time},
            "log": dict(context),
        },
        ecs={
            "user": ecs_user(subject_user) if subject_user else None,
            "email": email,
            "related": related(users=(sender, receiver)),
        },
        ocsf=ocsf,
    )
