"""API-level errors of the simulated Exmail server: an errcode with its errmsg, answered with HTTP 200."""

from __future__ import annotations

from typing import Any

ERRMSG: dict[int, str] = {
    -1: "system busy",
    40001: "invalid credential",
    40003: "invalid userid",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40031: "all list invalid",
    40057: "invalid callback url",
    40058: "invalid parameter",
    40068: "invalid tagid",
    40070: "all list invalid",
    40091: "invalid secret",
    40071: "invalid tagname",
    41001: "access_token missing",
    42001: "access_token expired",
    45009: "api freq out of limit",
    45024: "corp disabled",
    47001: "data format error",
    60001: "department name length out of range",
    60002: "department tree too deep",
    60003: "department not found",
    60004: "parent department not found",
    60005: "department has members",
    60006: "department has sub-departments",
    60007: "cannot delete the root department",
    60008: "department name already exists",
    60009: "department name contains illegal characters",
    60010: "department cycle",
    60102: "userid existed",
    60103: "invalid mobile",
    60111: "userid not found",
    60112: "invalid name",
    60114: "invalid gender",
    60123: "invalid department id",
    60124: "invalid parent department id",
    60125: "invalid department name",
    60126: "create department failed",
    60127: "department id missing",
    600001: "userid conflicts with an alias",
    600002: "userid conflicts with a group",
    600003: "invalid password",
    600004: "invalid alias",
    600005: "alias conflicts with a userid or groupid",
    600006: "alias count exceeds the limit",
    600007: "invalid groupid",
    600008: "group not found",
    600009: "group member list is empty",
    600010: "invalid userlist",
    600011: "invalid grouplist",
    600012: "invalid partylist",
    600013: "invalid allow_type",
    600014: "invalid allow_userlist",
    600015: "group existed",
    600016: "userlist contains unknown accounts",
    600017: "partylist contains unknown departments",
    600018: "grouplist contains unknown groups",
    600019: "group name contains illegal characters",
    600020: "group cycle",
    600021: "group nesting too deep",
    600023: "allow_userlist missing",
    600024: "groupid conflicts with a userid or alias",
    600025: "invalid tel",
    600026: "invalid extid",
    600027: "too many accounts",
    601001: "invalid time",
    601002: "time span exceeds the limit",
    601003: "invalid domain",
    601004: "domain not found",
    602005: "app has no permission for this api",
}


# Codes of the simulator that are not in Exmail's own return-code table (reference §3, source ERR) but come
# from WeCom (企业微信), whose API Exmail's new API was built on; README.md lists both sets.
BORROWED_FROM_WECOM: frozenset[int] = frozenset({40058, 40068, 40071, 41001, 42001, 47001})
EXMAIL_CODES: frozenset[int] = frozenset(ERRMSG) - BORROWED_FROM_WECOM


class ApiError(Exception):
    """Answered as {"errcode": code, "errmsg": msg, **extra} with HTTP 200."""

    def __init__(self, errcode: int, errmsg: str | None = None, **extra: Any) -> None:
        self.errcode = errcode
        self.errmsg = errmsg or ERRMSG.get(errcode, "error")
        self.extra = extra
        super().__init__(f"{errcode} {self.errmsg}")

    def body(self) -> dict[str, Any]:
        return {"errcode": self.errcode, "errmsg": self.errmsg, **self.extra}
