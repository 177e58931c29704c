"""hr.lifecycle -> ECS iam + OCSF 3001 Account Change.

An HR event is a request about an identity (joiner: create, mover: change, leaver: remove), not the
Exmail change itself, which arrives later as a directory or operation-log event with its own outcome. So
the outcome is "unknown" (OCSF status Unknown) and the actor is the HR system.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    ACCOUNT_CHANGE,
    build_event,
    ecs_user,
    ocsf_user,
    one_of,
    opt_str,
    related,
    req_str,
    str_list,
)

DATASET = "exmail.hr_lifecycle"
PROVIDER = "hr"


class HrEvent(NamedTuple):
    types: list[str]
    activity_id: int
    activity_name: str | None
    description: str


HR_EVENTS: dict[str, HrEvent] = {
    "joiner": HrEvent(["user", "creation"], 1, None, "joins"),
    "mover": HrEvent(["user", "change"], 99, "Move", "moves"),
    "leaver": HrEvent(["user", "deletion"], 6, None, "leaves"),
}


def to_event(raw: Envelope) -> dict[str, Any]:
    data = raw.data
    event = one_of(req_str(data, "event", "data"), HR_EVENTS, "data.event")
    request_id = req_str(data, "request_id", "data", nonempty=True)
    employee_id = req_str(data, "employee_id", "data", nonempty=True)
    userid = req_str(data, "userid", "data", nonempty=True)
    name = opt_str(data, "name", "data")
    department_path = opt_str(data, "department_path", "data")
    for key in ("position", "mobile", "effective_at"):
        opt_str(data, key, "data")
    aliases = str_list(data, "aliases", "data", required=False)
    spec = HR_EVENTS[event]

    user = ecs_user(userid)
    target = ocsf_user(userid)
    if name:
        user["full_name"] = name
        target["full_name"] = name
    if department_path:
        user["group"] = {"name": department_path}
    where = f" ({department_path})" if department_path else ""
    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        category=["iam"],
        types=spec.types,
        action=f"hr-{event}",
        outcome="unknown",
        message=f"HR: {name or userid} (employee {employee_id}) {spec.description}{where}, request {request_id}",
        ocsf_class=ACCOUNT_CHANGE,
        activity_id=spec.activity_id,
        activity_name=spec.activity_name,
        status_id=0,
        exmail={"hr": {**data, "aliases": list(aliases)}},
        ecs={"user": user, "related": related(users=(userid, *aliases))},
        ocsf={"user": target, "actor": {"app_name": "HR"}},
    )
