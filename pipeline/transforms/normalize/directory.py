"""exmail.raw.directory -> ECS iam + OCSF 3001 Account Change for users, 6003 API Activity for departments
and mail groups.

The changes come from snapshot diffs, so nobody is known to have made them: there is no actor user (the
6003 actor is the Exmail application itself). The changed user is `user.*`; a renamed user's new name is
`user.changes.full_name`. "disabled"/"enabled" of a department or group (not something Exmail has today)
maps like "updated".
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    ACCOUNT_CHANGE,
    API_ACTIVITY,
    EXMAIL_APP,
    NormalizeError,
    build_event,
    ecs_user,
    ocsf_user,
    one_of,
    opt_obj,
    related,
    req_str,
    req_timestamp,
    str_list,
)

DATASET = "exmail.directory"
PROVIDER = "address_book"
OBJECT_TYPES = ("user", "department", "group")
CHANGES = ("created", "updated", "deleted", "disabled", "enabled")
# The field holding the display name in each object kind (user/get, department/list, group/get).
NAME_FIELDS = {"user": "name", "department": "name", "group": "groupname"}
RESOURCE_TYPES = {"department": "department", "group": "mail_group"}


class DirectoryChange(NamedTuple):
    types: list[str]
    ocsf_class: int
    activity_id: int
    activity_name: str | None
    api_verb: str


DIRECTORY_CHANGES: dict[tuple[str, str], DirectoryChange] = {
    ("user", "created"): DirectoryChange(["user", "creation"], ACCOUNT_CHANGE, 1, None, "create"),
    ("user", "updated"): DirectoryChange(["user", "change"], ACCOUNT_CHANGE, 99, "Update", "update"),
    ("user", "disabled"): DirectoryChange(["user", "change"], ACCOUNT_CHANGE, 5, None, "update"),
    ("user", "enabled"): DirectoryChange(["user", "change"], ACCOUNT_CHANGE, 2, None, "update"),
    ("user", "deleted"): DirectoryChange(["user", "deletion"], ACCOUNT_CHANGE, 6, None, "delete"),
}
for _kind in ("department", "group"):
    DIRECTORY_CHANGES.update({
        (_kind, "created"): DirectoryChange(["group", "creation"], API_ACTIVITY, 1, None, "create"),
        (_kind, "updated"): DirectoryChange(["group", "change"], API_ACTIVITY, 3, None, "update"),
        (_kind, "disabled"): DirectoryChange(["group", "change"], API_ACTIVITY, 3, None, "update"),
        (_kind, "enabled"): DirectoryChange(["group", "change"], API_ACTIVITY, 3, None, "update"),
        (_kind, "deleted"): DirectoryChange(["group", "deletion"], API_ACTIVITY, 4, None, "delete"),
    })


def _name(obj: dict[str, Any] | None, key: str) -> str | None:
    value = obj.get(key) if obj else None
    return value if type(value) is str and value else None


def to_event(raw: Envelope) -> dict[str, Any]:
    data = raw.data
    object_type = one_of(req_str(data, "object_type", "data"), OBJECT_TYPES, "data.object_type")
    change = one_of(req_str(data, "change", "data"), CHANGES, "data.change")
    object_id = req_str(data, "object_id", "data", nonempty=True)
    for key in ("before", "after"):
        if key not in data:
            raise NormalizeError(f"data.{key} is missing")
    before = opt_obj(data, "before", "data")
    after = opt_obj(data, "after", "data")
    if change == "deleted" and before is None:
        raise NormalizeError("data.before must be an object for a deletion")
    if change != "deleted" and after is None:
        raise NormalizeError(f"data.after must be an object for change {change!r}")
    changed_fields = str_list(data, "changed_fields", "data")
    snapshot_at = req_timestamp(data, "snapshot_at", "data")

    spec = DIRECTORY_CHANGES[(object_type, change)]
    name_field = NAME_FIELDS[object_type]
    current = after if after is not None else before
    display = _name(current, name_field)
    ecs: dict[str, Any]
    ocsf: dict[str, Any]
    if object_type == "user":
        user = ecs_user(object_id)
        target = ocsf_user(object_id)
        if display:
            user["full_name"] = display
            target["full_name"] = display
        if name_field in changed_fields and _name(after, name_field):
            user["changes"] = {"full_name": _name(after, name_field)}
        ecs = {"user": user, "related": related(users=(object_id,))}
        ocsf = {"user": target}
        if after is not None and change != "deleted":
            ocsf["user_result"] = dict(target)
    else:
        group = {"id": object_id}
        resource = {"type": RESOURCE_TYPES[object_type], "uid": object_id}
        if display:
            group["name"] = display
            resource["name"] = display
        ecs = {"group": group}
        ocsf = {
            "actor": {"app_name": EXMAIL_APP},
            "api": {"operation": f"{object_type}/{spec.api_verb}", "service": {"name": "Exmail address book"}},
            "src_endpoint": {"svc_name": EXMAIL_APP},
            "resources": [resource],
        }

    label = f"{display} ({object_id})" if display and display != object_id else object_id
    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        category=["iam"],
        types=spec.types,
        action=f"{object_type}-{change}",
        outcome="success",
        message=f"{object_type} {label} {change}" + (f": {', '.join(changed_fields)}" if changed_fields else ""),
        ocsf_class=spec.ocsf_class,
        activity_id=spec.activity_id,
        activity_name=spec.activity_name,
        status_id=1,
        exmail={"directory": {"object_type": object_type, "change": change, "object_id": object_id,
                              "before": before, "after": after, "changed_fields": list(changed_fields),
                              "snapshot_at": snapshot_at}},
        ecs=ecs,
        ocsf=ocsf,
    )
