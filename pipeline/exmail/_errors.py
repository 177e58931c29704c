"""Exmail errcodes as exceptions: one small hierarchy, one table from errcode to class (reference §3).

Messages carry the endpoint, the errcode, its documented meaning and the server's errmsg (scrubbed);
never a token, secret or URL with credentials.
"""

from __future__ import annotations

from pipeline.secrets import scrub_text


class ExmailError(Exception):
    """An Exmail API call failed. `errcode` is None for failures that did not come with one."""

    retryable: bool = False

    def __init__(self, errcode: int | None, errmsg: str = "", endpoint: str = "") -> None:
        errmsg = scrub_text(str(errmsg))
        super().__init__(errcode, errmsg, endpoint)
        self.errcode = errcode
        self.errmsg = errmsg
        self.endpoint = endpoint

    @property
    def meaning(self) -> str | None:
        """The reference's description of `errcode`, if it is a known code."""
        entry = ERRCODES.get(self.errcode) if self.errcode is not None else None
        return entry[1] if entry else None

    def __str__(self) -> str:
        parts = [self.endpoint or "exmail"]
        if self.errcode is not None:
            meaning = self.meaning
            parts.append(f"errcode {self.errcode}" + (f" ({meaning})" if meaning else ""))
        if self.errmsg:
            parts.append(self.errmsg)
        return ": ".join(parts)


class AuthError(ExmailError):
    """Credentials, corp id or token refused; 40001/40014/42001 trigger one token refresh first."""


class PermissionDenied(ExmailError):
    """The app's token may not call this endpoint (wrong app, or outside the app's management scope)."""


class RateLimited(ExmailError):
    """45009 (or HTTP 429): retried with backoff."""

    retryable = True


class NotFound(ExmailError):
    """The user, department, parent department or mail group does not exist."""


class ValidationError(ExmailError):
    """The request was refused as invalid; retrying the same request cannot succeed."""


class ServerBusy(ExmailError):
    """-1 "system busy": retried with backoff."""

    retryable = True


class TransportError(ExmailError):
    """No usable API answer: HTTP 5xx, timeout, connection failure (retryable) or other HTTP status."""

    def __init__(
        self,
        errcode: int | None = None,
        errmsg: str = "",
        endpoint: str = "",
        *,
        status_code: int | None = None,
        reason: str = "transport",
        retryable: bool = True,
    ) -> None:
        super().__init__(errcode, errmsg, endpoint)
        self.status_code = status_code
        self.reason = reason
        self.retryable = retryable


class ResponseFormatError(ExmailError, ValueError):
    """The body is not JSON or does not have the documented shape (names the fields, never their values)."""


# errcode -> (class, meaning); every code of reference §3, plus 42001 handled defensively.
ERRCODES: dict[int, tuple[type[ExmailError], str]] = {
    -1: (ServerBusy, "system busy"),
    40001: (AuthError, "wrong CorpSecret, or access_token invalid"),
    40003: (ValidationError, "invalid UserID"),
    40013: (AuthError, "invalid corpid"),
    40014: (AuthError, "invalid access_token"),
    40031: (ValidationError, "tag delete members: every entry invalid"),
    40057: (ValidationError, "invalid callback URL, or callback URL verification failed"),
    40070: (ValidationError, "tag add members: every entry invalid"),
    40091: (AuthError, "invalid secret"),
    42001: (AuthError, "access_token expired"),
    45009: (RateLimited, "API call limit exceeded"),
    45024: (AuthError, "enterprise is disabled"),
    60001: (ValidationError, "department name length out of range"),
    60002: (ValidationError, "department tree too deep"),
    60003: (NotFound, "department does not exist"),
    60004: (NotFound, "parent department does not exist"),
    60005: (ValidationError, "cannot delete a department that has members"),
    60006: (ValidationError, "cannot delete a department that has sub-departments"),
    60007: (ValidationError, "cannot delete the root department"),
    60008: (ValidationError, "department name already exists"),
    60009: (ValidationError, "department name contains illegal characters"),
    60010: (ValidationError, "department cycle"),
    60102: (ValidationError, "UserID already exists"),
    60103: (ValidationError, "invalid mobile number"),
    60111: (NotFound, "UserID does not exist"),
    60112: (ValidationError, "invalid member name"),
    60114: (ValidationError, "invalid gender"),
    60123: (ValidationError, "invalid department id"),
    60124: (ValidationError, "invalid parent department id"),
    60125: (ValidationError, "invalid department name"),
    60126: (ValidationError, "department creation failed"),
    60127: (ValidationError, "department id missing"),
    600001: (ValidationError, "userid conflicts with an alias"),
    600002: (ValidationError, "userid conflicts with a group id"),
    600003: (ValidationError, "invalid or weak password"),
    600004: (ValidationError, "invalid alias"),
    600005: (ValidationError, "alias conflicts with a userid or groupid"),
    600006: (ValidationError, "alias count at limit"),
    600007: (ValidationError, "invalid groupid"),
    600008: (NotFound, "mail group does not exist"),
    600009: (ValidationError, "group member list is empty"),
    600010: (ValidationError, "userlist invalid"),
    600011: (ValidationError, "grouplist invalid"),
    600012: (ValidationError, "partylist invalid"),
    600013: (ValidationError, "invalid group send-permission type (allow_type)"),
    600014: (ValidationError, "invalid send-permission members"),
    600015: (ValidationError, "mail group already exists"),
    600016: (ValidationError, "some userlist entries not found"),
    600017: (ValidationError, "some partylist entries not found"),
    600018: (ValidationError, "some grouplist entries not found"),
    600019: (ValidationError, "group name contains illegal characters"),
    600020: (ValidationError, "mail group cycle"),
    600021: (ValidationError, "group nesting too deep"),
    600023: (ValidationError, "send-permission members missing"),
    600024: (ValidationError, "groupid conflicts with a userid or alias"),
    600025: (ValidationError, "invalid landline (tel)"),
    600026: (ValidationError, "invalid number (extid)"),
    600027: (ValidationError, "batchcheck: too many accounts in one call"),
    601001: (ValidationError, "log query: invalid time"),
    601002: (ValidationError, "log query: time span exceeds the limit"),
    601003: (ValidationError, "log query: invalid domain"),
    601004: (ValidationError, "log query: domain does not exist"),
    602005: (PermissionDenied, "the app has no permission to access this API"),
}

# A call holding a token that fails with one of these refreshes the token and retries once.
TOKEN_INVALID_CODES = frozenset({40001, 40014, 42001})


def error_for(errcode: int, errmsg: str, endpoint: str) -> ExmailError:
    """The exception for a non-zero errcode; unknown codes give the base ExmailError."""
    entry = ERRCODES.get(errcode)
    cls = entry[0] if entry else ExmailError
    return cls(errcode, errmsg, endpoint)
