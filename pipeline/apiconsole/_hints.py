"""Fix hints for Exmail errcodes: the meaning comes from the client's errcode table (reference §3), the hint
says what to change. Codes without their own hint get one from their class (not found, refused, ...)."""

from __future__ import annotations

from pipeline.exmail import (
    ERRCODES,
    AuthError,
    Endpoint,
    ExmailError,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerBusy,
    TransportError,
    ValidationError,
)

_HINTS: dict[int, str] = {
    -1: "Exmail is busy: retry later (the client already retried with backoff)",
    40001: "check the corp id and that the secret belongs to this endpoint's app (admin console: 工具箱 → 应用中心)",
    40003: "userid must be a full mailbox address on one of the corp's domains",
    40013: "check corp_id (18 characters, wm... or ww...)",
    40014: "the access_token was refused: the client refreshes once; if it persists, check the secret",
    40091: "the app secret is wrong or was regenerated: copy the current one from the admin console",
    45009: "API call limit reached: lower the corp's client.corp_rate/app_rate or retry later",
    45024: "the enterprise is disabled: contact Tencent Exmail support",
    60003: "the department id does not exist: list ids with `pipeline api call department/list`",
    60004: "the parent department does not exist: check parentid with department/list (1 = root)",
    60005: "move or delete the department's members first",
    60006: "delete the sub-departments first",
    60008: "a sibling department already has this name: pick another name or parent",
    60102: "the mailbox already exists: use user/update, or user/get to see it",
    60111: "no member has this userid: check the spelling and domain (user/get, user/simplelist department_id=1 "
           "fetch_child=1), or create it with user/create",
    60123: "department must be 1-20 existing department ids (department/list)",
    600003: "password needs upper case, lower case and digits, 6-32 characters (or give a mobile on create)",
    600008: "no mail group has this groupid: groups cannot be listed through the API; check the address",
    600015: "the group exists already: use group/update",
    600027: "user/batchcheck takes at most 20 accounts per call: split the list",
    601001: "dates must be YYYY-MM-DD with begin_date <= end_date",
    601002: "the log query spans too many days (about 3 months at most): split it into shorter ranges "
            "(the client's log methods and `pipeline backfill` do this for you)",
    601003: "domain must be a mail domain of the corp, e.g. example.com",
    601004: "the domain is not one of the corp's domains: check the admin console's domain list",
    602005: "this endpoint belongs to the {app} app: call it with that app's token (configure the corp's {app} "
            "secret; without --app the console picks it), and check the app's management scope covers the target",
}

_BY_CLASS: list[tuple[type[ExmailError], str]] = [
    (RateLimited, _HINTS[45009]),
    (ServerBusy, _HINTS[-1]),
    (PermissionDenied, _HINTS[602005]),
    (AuthError, "check corp_id and the app's secret (and that the app is enabled in the admin console)"),
    (NotFound, "the object does not exist: check the id (list it first)"),
    (ValidationError, "the request was refused as invalid: check the parameter against `pipeline api list`"),
]


def explain(errcode: int | None, ep: Endpoint, exc: ExmailError | None = None) -> tuple[str | None, str | None]:
    """(documented meaning, fix hint) for an errcode, or for a failure without one (transport)."""
    if errcode is None:
        if isinstance(exc, TransportError):
            return ("no usable answer from the API (" + exc.reason + ")",
                    "check base_url and network access; 5xx and timeouts were retried with backoff")
        if exc is not None:
            return (None, str(exc))
        return (None, None)
    entry = ERRCODES.get(errcode)
    meaning = entry[1] if entry else "not in the Exmail errcode table"
    hint = _HINTS.get(errcode)
    if hint is None:
        cls = entry[0] if entry else type(exc) if exc is not None else ExmailError
        hint = next((h for c, h in _BY_CLASS if issubclass(cls, c)), "see shared/reference/exmail-api.md §3")
    return meaning, hint.format(app=ep.app.value)
