"""exmail.raw.new_mail -> a mail arrival (OCSF 4009 Email Activity, Receive; ECS email.*, inbound) or an
unread-count change (informational OCSF Base Event).

A callback `Mail` push is one arrival. A `NewCount` poll whose count rose is an arrival of `new - previous`
mails (ocsf.count); one whose count did not rise only reports the count. `UnRead` pushes report the count.
Push and poll of the same arrival share exmail.new_mail.correlation_key; deduplication happens downstream.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    BASE_EVENT,
    EMAIL_ACTIVITY,
    NormalizeError,
    build_event,
    ecs_user,
    iso_from_unix,
    one_of,
    opt_int,
    opt_str,
    related,
    req_int,
    req_str,
)

DATASET = "exmail.new_mail"
PROVIDERS = {"callback": "mail/callback", "poll": "mail/newcount"}
MSG_TYPES = {"callback": ("Mail", "UnRead"), "poll": ("NewCount",)}
_ANGLE_ADDRESS = re.compile(r"<([^<>]*)>\s*$")


def sender_address(from_user: str | None) -> str | None:
    """FromUser comes as a bare address, a bare local part, or the display form "name"<addr>."""
    if not from_user:
        return None
    match = _ANGLE_ADDRESS.search(from_user)
    address = match.group(1).strip() if match else from_user.strip()
    return address or None


def to_event(raw: Envelope) -> dict[str, Any]:
    data = raw.data
    via = one_of(req_str(data, "via", "data"), PROVIDERS, "data.via")
    msg_type = req_str(data, "msg_type", "data")
    if msg_type not in MSG_TYPES[via]:
        raise NormalizeError(f"data.msg_type must be one of {', '.join(MSG_TYPES[via])} when via is {via}")
    userid = req_str(data, "userid", "data", nonempty=True)
    time = req_int(data, "time", "data", minimum=0)
    mail_id = opt_str(data, "mail_id", "data")
    from_user = opt_str(data, "from", "data")
    subject = opt_str(data, "subject", "data")
    new_count = opt_int(data, "new_count", "data", minimum=0)
    unread_count = opt_int(data, "unread_count", "data", minimum=0)
    previous_count = opt_int(data, "previous_count", "data", minimum=0)
    correlation_key = opt_str(data, "correlation_key", "data")

    arrived = 0
    if msg_type == "Mail":
        if not mail_id:
            raise NormalizeError("data.mail_id is required for a Mail push")
        if new_count is None:
            raise NormalizeError("data.new_count is required for a Mail push")
        arrived = 1
    elif msg_type == "UnRead":
        if unread_count is None:
            raise NormalizeError("data.unread_count is required for an UnRead push")
    else:
        if new_count is None:
            raise NormalizeError("data.new_count is required for a NewCount poll")
        arrived = new_count - previous_count if previous_count is not None else new_count
    if msg_type != "UnRead" and not correlation_key:
        raise NormalizeError(f"data.correlation_key is required for {msg_type}")

    exmail = {"new_mail": {**data, "time": time, "arrived": max(arrived, 0)}}
    user = ecs_user(userid)
    sender = sender_address(from_user)

    if arrived <= 0:
        count = unread_count if msg_type == "UnRead" else new_count
        return build_event(
            raw,
            dataset=DATASET,
            provider=PROVIDERS[via],
            category=["email"],
            types=["info"],
            action="unread-count-changed",
            outcome="success",
            message=f"{userid} has {count} unread mail(s)",
            ocsf_class=BASE_EVENT,
            activity_id=99,
            activity_name="Unread Count",
            status_id=1,
            exmail=exmail,
            ecs={"user": user, "related": related(users=(userid,))},
            ocsf={"unmapped": {"userid": userid, "unread_count": count}},
        )

    email: dict[str, Any] = {"to": {"address": [userid]}, "direction": "inbound",
                             "delivery_timestamp": iso_from_unix(time, "data.time")}
    ocsf_email: dict[str, Any] = {"to": [userid]}
    if sender:
        email["from"] = {"address": [sender]}
        ocsf_email["from"] = sender
    if subject is not None:
        email["subject"] = subject
        ocsf_email["subject"] = subject
    if mail_id:
        email["local_id"] = mail_id
        ocsf_email["uid"] = mail_id
    ocsf: dict[str, Any] = {"email": ocsf_email, "direction_id": 1, "direction": "Inbound"}
    if msg_type == "NewCount":
        ocsf["count"] = arrived

    if msg_type == "Mail":
        message = f"new mail for {userid} from {sender or 'an unknown sender'}"
    else:
        message = f"{arrived} new mail(s) for {userid}"
    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDERS[via],
        category=["email"],
        types=["info"],
        action="new-mail" if msg_type == "Mail" else "new-mail-count",
        outcome="success",
        message=message,
        ocsf_class=EMAIL_ACTIVITY,
        activity_id=2,
        status_id=1,
        exmail=exmail,
        ecs={"user": user, "email": email, "related": related(users=(userid, sender))},
        ocsf=ocsf,
    )
