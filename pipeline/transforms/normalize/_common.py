"""Building blocks shared by the mappers: input checks whose errors name the bad field, ECS/OCSF user
fields, and the ECS + OCSF frame every normalized event carries.

Plain dicts and precomputed tables only: this runs once per event on the hot path.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Final

from pipeline.envelope import Envelope, parse_iso, utc_iso

ECS_VERSION: Final = "9.5.0-dev"
OCSF_VERSION: Final = "1.9.0"
PRODUCT_NAME: Final = "Tencent Exmail"
VENDOR_NAME: Final = "Tencent"
EXMAIL_APP: Final = "Tencent Exmail"
ADMIN_CONSOLE: Final = "Tencent Exmail admin console"


class NormalizeError(ValueError):
    """A raw record cannot be normalized. `reason` names the field and what is wrong with it; it never
    repeats free-text values, so it is safe for logs and the DLQ."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- input checks -------------------------------------------------------------------------------------------

_MISSING: Final = object()
_TYPE_NAMES = {dict: "object", list: "array", str: "string", int: "integer", float: "number", bool: "boolean",
               type(None): "null"}
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
_DATE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _as_int(value: Any) -> int | None:
    """JSON integers (and integral floats, which JSON Schema also calls integers); never booleans."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def req_obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    value = parent.get(key, _MISSING)
    if value is _MISSING:
        raise NormalizeError(f"{path}.{key} is missing")
    if type(value) is not dict:
        raise NormalizeError(f"{path}.{key} must be an object, got {type_name(value)}")
    return value


def opt_obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any] | None:
    value = parent.get(key)
    if value is None:
        return None
    if type(value) is not dict:
        raise NormalizeError(f"{path}.{key} must be an object or null, got {type_name(value)}")
    return value


def req_int(parent: dict[str, Any], key: str, path: str, *, minimum: int | None = None) -> int:
    value = parent.get(key, _MISSING)
    if value is _MISSING:
        raise NormalizeError(f"{path}.{key} is missing")
    number = _as_int(value)
    if number is None:
        raise NormalizeError(f"{path}.{key} must be an integer, got {type_name(value)}")
    if minimum is not None and number < minimum:
        raise NormalizeError(f"{path}.{key} must be >= {minimum}, got {number}")
    return number


def opt_int(parent: dict[str, Any], key: str, path: str, *, minimum: int | None = None) -> int | None:
    if parent.get(key) is None:
        return None
    return req_int(parent, key, path, minimum=minimum)


def req_str(parent: dict[str, Any], key: str, path: str, *, nonempty: bool = False) -> str:
    value = parent.get(key, _MISSING)
    if value is _MISSING:
        raise NormalizeError(f"{path}.{key} is missing")
    if type(value) is not str:
        raise NormalizeError(f"{path}.{key} must be a string, got {type_name(value)}")
    if nonempty and not value:
        raise NormalizeError(f"{path}.{key} must not be empty")
    return value


def opt_str(parent: dict[str, Any], key: str, path: str) -> str | None:
    value = parent.get(key)
    if value is None or type(value) is str:
        return value
    raise NormalizeError(f"{path}.{key} must be a string or null, got {type_name(value)}")


def opt_int_or_str(parent: dict[str, Any], key: str, path: str,
                   expected: str = "an integer, string or null") -> int | str | None:
    """A field the API documents loosely (status, remark): integers (integral floats too, as JSON Schema
    counts them), strings or null."""
    value = parent.get(key)
    if value is None or type(value) in (int, str):
        return value
    as_int = _as_int(value)
    if as_int is not None:
        return as_int
    raise NormalizeError(f"{path}.{key} must be {expected}, got {type_name(value)}")


def req_bool(parent: dict[str, Any], key: str, path: str) -> bool:
    value = parent.get(key, _MISSING)
    if value is _MISSING:
        raise NormalizeError(f"{path}.{key} is missing")
    if type(value) is not bool:
        raise NormalizeError(f"{path}.{key} must be true or false, got {type_name(value)}")
    return value


def req_date(parent: dict[str, Any], key: str, path: str) -> str:
    value = req_str(parent, key, path)
    if not _DATE.fullmatch(value):
        raise NormalizeError(f"{path}.{key} must be a date YYYY-MM-DD")
    return value


def req_timestamp(parent: dict[str, Any], key: str, path: str) -> str:
    value = req_str(parent, key, path)
    epoch_ms(value, f"{path}.{key}")
    return value


def str_list(parent: dict[str, Any], key: str, path: str, *, required: bool = True) -> list[str]:
    value = parent.get(key, _MISSING)
    if value is _MISSING or (value is None and not required):
        if required:
            raise NormalizeError(f"{path}.{key} is missing")
        return []
    if type(value) is not list or any(type(v) is not str for v in value):
        raise NormalizeError(f"{path}.{key} must be an array of strings")
    return value


def one_of(value: str, allowed: Iterable[str], path: str) -> str:
    if value not in allowed:
        raise NormalizeError(f"{path} must be one of {', '.join(allowed)}")
    return value


def epoch_ms(value: str, path: str) -> int:
    """RFC 3339 text -> epoch milliseconds; anything else is a NormalizeError naming `path`."""
    if type(value) is not str or not _RFC3339.fullmatch(value):
        raise NormalizeError(f"{path} must be an RFC 3339 timestamp")
    try:
        return (parse_iso(value) - _EPOCH) // _MS
    except ValueError:
        raise NormalizeError(f"{path} is not a valid date-time") from None


def iso_from_unix(seconds: int, path: str) -> str:
    try:
        return utc_iso(seconds)
    except (OverflowError, OSError, ValueError):
        raise NormalizeError(f"{path} is out of range for a Unix time") from None


# --- users, addresses, ips ----------------------------------------------------------------------------------

def ecs_user(userid: str) -> dict[str, Any]:
    """ECS user.* for an Exmail account (the account id is the mailbox address, as in Google Workspace's
    mapping: name = local part, domain = mail domain)."""
    local, at, domain = userid.rpartition("@")
    if at and local and domain:
        return {"id": userid, "name": local, "email": userid, "domain": domain}
    return {"id": userid, "name": userid}


def ocsf_user(userid: str) -> dict[str, Any]:
    local, at, domain = userid.rpartition("@")
    if at and local and domain:
        return {"uid": userid, "name": local, "email_addr": userid, "domain": domain}
    return {"uid": userid, "name": userid}


def looks_like_address(value: str | None) -> bool:
    if not value:
        return False
    local, at, domain = value.rpartition("@")
    return bool(at and local and domain)


@lru_cache(maxsize=16384)
def is_ip(value: str) -> bool:
    """Only real addresses go to ECS `ip` fields: one bad value would fail a whole Elasticsearch bulk item."""
    if not value or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def unique(values: Iterable[str | None]) -> list[str]:
    out: list[str] = []
    for v in values:
        if v and v not in out:
            out.append(v)
    return out


def related(users: Iterable[str | None] = (), ips: Iterable[str | None] = (),
            hosts: Iterable[str | None] = ()) -> dict[str, list[str]] | None:
    rel: dict[str, list[str]] = {}
    u = unique(users)
    if u:
        rel["user"] = u
    i = unique(v for v in ips if v and is_ip(v))
    if i:
        rel["ip"] = i
    h = unique(hosts)
    if h:
        rel["hosts"] = h
    return rel or None


# --- the ECS + OCSF frame -----------------------------------------------------------------------------------

BASE_EVENT: Final = 0
ACCOUNT_CHANGE: Final = 3001
AUTHENTICATION: Final = 3002
EMAIL_ACTIVITY: Final = 4009
API_ACTIVITY: Final = 6003

# class_uid -> (class_name, category_uid, category_name, activity_id -> activity_name); 0 and 99 exist in all.
OCSF_CLASSES: Final[dict[int, tuple[str, int, str, dict[int, str]]]] = {
    BASE_EVENT: ("Base Event", 0, "Other", {}),
    ACCOUNT_CHANGE: ("Account Change", 3, "Identity & Access Management", {
        1: "Create", 2: "Enable", 3: "Password Change", 4: "Password Reset", 5: "Disable", 6: "Delete",
        7: "Attach Policy", 8: "Detach Policy", 9: "Lock", 10: "MFA Factor Enable", 11: "MFA Factor Disable",
        12: "Unlock"}),
    AUTHENTICATION: ("Authentication", 3, "Identity & Access Management", {
        1: "Logon", 2: "Logoff", 3: "Authentication Ticket", 4: "Service Ticket Request",
        5: "Service Ticket Renew", 6: "Preauth", 7: "Account Switch"}),
    EMAIL_ACTIVITY: ("Email Activity", 4, "Network Activity", {
        1: "Send", 2: "Receive", 3: "Scan", 4: "Trace", 5: "MTA Relay"}),
    API_ACTIVITY: ("API Activity", 6, "Application Activity", {1: "Create", 2: "Read", 3: "Update", 4: "Delete"}),
}
for _table in OCSF_CLASSES.values():
    _table[3].update({0: "Unknown", 99: "Other"})

SEVERITY: Final = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal",
                   99: "Other"}
STATUS: Final = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}
OUTCOME_STATUS: Final = {"success": 1, "failure": 2, "unknown": 0}


def build_event(
    raw: Envelope,
    *,
    dataset: str,
    provider: str,
    category: list[str],
    types: list[str],
    action: str,
    outcome: str | None,
    message: str,
    ocsf_class: int,
    activity_id: int,
    status_id: int,
    exmail: dict[str, Any],
    ecs: dict[str, Any] | None = None,
    ocsf: dict[str, Any] | None = None,
    kind: str = "event",
    severity_id: int = 1,
    activity_name: str | None = None,
    status_code: str | None = None,
    status_detail: str | None = None,
    event_fields: dict[str, str] | None = None,
    profiles: list[str] | None = None,
) -> dict[str, Any]:
    """The normalized document. `ecs` holds the extra top-level ECS objects (user, email, source, ...; None
    values are dropped); `ocsf` the class-specific OCSF attributes. `activity_name` overrides the caption
    only for activity 99 (Other), where OCSF wants the source's own name."""
    time_ms = epoch_ms(raw.occurred_at, "occurred_at")
    logged_ms = epoch_ms(raw.observed_at, "observed_at")
    class_name, category_uid, category_name, activities = OCSF_CLASSES[ocsf_class]
    name = activity_name if activity_id == 99 and activity_name else activities[activity_id]

    event: dict[str, Any] = {
        "kind": kind,
        "category": list(category),
        "type": list(types),
        "action": action,
        "id": raw.id,
        "dataset": dataset,
        "module": "exmail",
        "provider": provider,
        "created": raw.observed_at,
        "severity": severity_id,
    }
    if outcome is not None:
        event["outcome"] = outcome
    if event_fields:
        event.update(event_fields)

    doc: dict[str, Any] = {
        "@timestamp": raw.occurred_at,
        "ecs": {"version": ECS_VERSION},
        "message": message,
        "event": event,
        "organization": {"id": raw.corp_id},
    }
    if ecs:
        for key, value in ecs.items():
            if value is not None:
                doc[key] = value
    doc["exmail"] = exmail

    metadata: dict[str, Any] = {
        "product": {"name": PRODUCT_NAME, "vendor_name": VENDOR_NAME},
        "version": OCSF_VERSION,
        "log_name": dataset,
        "tenant_uid": raw.corp_id,
        "uid": raw.id,
        "logged_time": logged_ms,
    }
    if profiles:
        metadata["profiles"] = profiles
    block: dict[str, Any] = {
        "class_uid": ocsf_class,
        "class_name": class_name,
        "category_uid": category_uid,
        "category_name": category_name,
        "activity_id": activity_id,
        "activity_name": name,
        "type_uid": ocsf_class * 100 + activity_id,
        "type_name": f"{class_name}: {name}",
        "severity_id": severity_id,
        "severity": SEVERITY[severity_id],
        "status_id": status_id,
        "status": STATUS[status_id],
        "time": time_ms,
        "message": message,
        "metadata": metadata,
    }
    if status_code is not None:
        block["status_code"] = status_code
    if status_detail is not None:
        block["status_detail"] = status_detail
    if ocsf:
        block.update(ocsf)
    doc["ocsf"] = block
    return doc
