"""exmail.raw.options -> ECS configuration change + OCSF 6003 API Activity (Update when options changed,
Read when the snapshot only reports state).

Policy drift (an option differs from the configured policy) is marked, not alerted on: tags
["policy_drift"], event.reason naming each drifted option and OCSF severity Medium. event.kind stays
"event": alerts are the rules stage's job, so silences, grouping and inhibition apply to drift alerts too.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    API_ACTIVITY,
    EXMAIL_APP,
    NormalizeError,
    build_event,
    ecs_user,
    opt_obj,
    related,
    req_int,
    req_obj,
    req_str,
    type_name,
)

DATASET = "exmail.options"
PROVIDER = "useroption"
OPTION_NAMES: dict[int, str] = {
    1: "force_secure_login",
    2: "imap_smtp",
    3: "pop_smtp",
    4: "secure_login_enabled",
}


def option_name(option_type: int) -> str:
    return OPTION_NAMES.get(option_type, f"unknown_{option_type}")


_OPTION_TYPE = re.compile(r"[0-9]+")


def _option_type(key: str, path: str) -> int:
    if not _OPTION_TYPE.fullmatch(key):
        raise NormalizeError(f"{path} keys must be option types (decimal strings)")
    return int(key)


def _values(obj: dict[str, Any], path: str) -> dict[str, str]:
    for key, value in obj.items():
        _option_type(key, path)
        if type(value) is not str:
            raise NormalizeError(f"{path}.{key} must be a string, got {type_name(value)}")
    return obj


def _nullable_str(obj: dict[str, Any], key: str, path: str) -> str | None:
    if key not in obj:
        raise NormalizeError(f"{path}.{key} is missing")
    value = obj[key]
    if value is not None and type(value) is not str:
        raise NormalizeError(f"{path}.{key} must be a string or null, got {type_name(value)}")
    return value


def to_event(raw: Envelope) -> dict[str, Any]:
    data = raw.data
    userid = req_str(data, "userid", "data", nonempty=True)
    values = _values(req_obj(data, "options", "data"), "data.options")
    if "previous" not in data:
        raise NormalizeError("data.previous is missing")
    previous = opt_obj(data, "previous", "data")
    if previous is not None:
        _values(previous, "data.previous")

    changed: list[dict[str, Any]] = []
    for key, diff in req_obj(data, "changed", "data").items():
        option_type = _option_type(key, "data.changed")
        if type(diff) is not dict:
            raise NormalizeError(f"data.changed.{key} must be an object, got {type_name(diff)}")
        changed.append({"type": option_type, "name": option_name(option_type),
                        "from": _nullable_str(diff, "from", f"data.changed.{key}"),
                        "to": _nullable_str(diff, "to", f"data.changed.{key}")})

    drift_in = data.get("drift")
    if type(drift_in) is not list:
        raise NormalizeError("data.drift is missing" if drift_in is None else
                             f"data.drift must be an array, got {type_name(drift_in)}")
    drift: list[dict[str, Any]] = []
    for i, item in enumerate(drift_in):
        path = f"data.drift[{i}]"
        if type(item) is not dict:
            raise NormalizeError(f"{path} must be an object, got {type_name(item)}")
        option_type = req_int(item, "type", path)
        desired = req_str(item, "desired", path)
        entry = {"type": option_type, "name": option_name(option_type), "desired": desired,
                 "actual": _nullable_str(item, "actual", path)}
        rule = item.get("rule")
        if rule is not None:
            if type(rule) is not str:
                raise NormalizeError(f"{path}.rule must be a string, got {type_name(rule)}")
            entry["rule"] = rule
        drift.append(entry)

    parts = [f"{c['name']} {c['from']!r} -> {c['to']!r}" for c in changed]
    if drift:
        parts.append("policy drift")
    message = f"options of {userid}: " + ("; ".join(parts) if parts else "snapshot")
    event_fields = None
    if drift:
        event_fields = {"reason": "; ".join(
            f"option {d['type']} ({d['name']}) is {d['actual']!r}, policy wants {d['desired']!r}"
            + (f" (rule {d['rule']})" if d.get("rule") else "") for d in drift)}

    resources: list[dict[str, Any]] = [{"type": "user", "uid": userid}]
    resources += [{"type": "user_option", "uid": str(c["type"]), "name": c["name"]} for c in changed]
    resources += [{"type": "user_option", "uid": str(d["type"]), "name": d["name"]} for d in drift
                  if all(d["type"] != c["type"] for c in changed)]
    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        category=["configuration"],
        types=["change"] if changed else ["info"],
        action="user-options-changed" if changed else ("user-options-drift" if drift else "user-options-snapshot"),
        outcome="success",
        message=message,
        ocsf_class=API_ACTIVITY,
        activity_id=3 if changed else 2,
        status_id=1,
        severity_id=3 if drift else 1,
        event_fields=event_fields,
        exmail={"options": {"userid": userid, "values": dict(values), "previous": previous, "changed": changed,
                            "drift": drift}},
        ecs={
            "user": ecs_user(userid),
            "related": related(users=(userid,)),
            "tags": ["policy_drift"] if drift else None,
        },
        ocsf={
            "actor": {"app_name": EXMAIL_APP},
            "api": {"operation": "useroption/update" if changed else "useroption/get",
                    "service": {"name": "Exmail useroption"}},
            "src_endpoint": {"svc_name": EXMAIL_APP},
            "resources": resources,
        },
    )
