"""exmail.raw.login_log -> ECS authentication/session start + OCSF 3002 Authentication (Logon).

The API lists logins, not attempts, so every record is a successful logon. The login type (web, mobile,
app, desktop client) says how the user connected: OCSF logon_type 3 Network for the four known clients
(each logs on to Exmail over the network), 99 Other for "other", 0 Unknown for values a newer API adds.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    AUTHENTICATION,
    EXMAIL_APP,
    build_event,
    ecs_user,
    is_ip,
    ocsf_user,
    related,
    req_date,
    req_int,
    req_obj,
    req_str,
)

DATASET = "exmail.login_log"
PROVIDER = "log/login"


class LoginType(NamedTuple):
    name: str
    description: str
    action: str
    logon_type_id: int


LOGIN_TYPES: dict[int, LoginType] = {
    1: LoginType("web", "web browser", "login-web", 3),
    2: LoginType("mobile", "mobile", "login-mobile", 3),
    3: LoginType("qqmail_app", "QQ Mail app", "login-qqmail-app", 3),
    4: LoginType("desktop_client", "desktop client (IMAP, POP, Exchange)", "login-desktop-client", 3),
    5: LoginType("other", "other", "login-other", 99),
}
UNKNOWN_LOGIN_TYPE = LoginType("unknown", "login type not in the API documentation", "login-unknown", 0)
LOGON_TYPES: dict[int, str] = {0: "Unknown", 3: "Network", 99: "Other"}


def to_event(raw: Envelope) -> dict[str, Any]:
    record = req_obj(raw.data, "record", "data")
    context = req_obj(raw.data, "context", "data")
    userid = req_str(context, "userid", "data.context", nonempty=True)
    if "date" in context:
        req_date(context, "date", "data.context")
    time = req_int(record, "time", "data.record", minimum=0)
    ip = req_str(record, "ip", "data.record")
    login_type = req_int(record, "type", "data.record")
    lt = LOGIN_TYPES.get(login_type, UNKNOWN_LOGIN_TYPE)

    source: dict[str, Any] | None = None
    src_endpoint: dict[str, Any] | None = None
    if is_ip(ip):
        source = {"ip": ip}
        src_endpoint = {"ip": ip}
    elif ip:
        source = {"address": ip}
        src_endpoint = {"name": ip}

    ocsf: dict[str, Any] = {
        "user": ocsf_user(userid),
        "logon_type_id": lt.logon_type_id,
        "logon_type": LOGON_TYPES[lt.logon_type_id],
        "is_remote": True,
        "service": {"name": EXMAIL_APP},
        "unmapped": {"exmail_login_type": login_type, "exmail_login_type_name": lt.name},
    }
    if src_endpoint is not None:
        ocsf["src_endpoint"] = src_endpoint

    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        category=["authentication", "session"],
        types=["start"],
        action=lt.action,
        outcome="success",
        message=f"{userid} logged in via {lt.description} from {ip or 'an unknown address'}",
        ocsf_class=AUTHENTICATION,
        activity_id=1,
        status_id=1,
        exmail={
            "login": {**record, "type": login_type, "type_name": lt.name, "time": time, "userid": userid},
            "log": dict(context),
        },
        ecs={
            "user": ecs_user(userid),
            "source": source,
            "related": related(users=(userid,), ips=(ip,)),
        },
        ocsf=ocsf,
    )
