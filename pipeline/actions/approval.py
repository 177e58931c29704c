"""Approval tokens: HMAC-SHA256 over the action id and an expiry, so a link can approve one action, once
it is shown to an approver, until it expires. Token = "<expires unix seconds>.<base64url mac>"."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

_CONTEXT = b"exmail-action-approval/1\n"


class ApprovalError(ValueError):
    """The token does not approve this action (malformed, tampered, for another action, or expired)."""


class ApprovalSigner:
    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the approval secret must be at least 16 characters")
        self._key = secret.encode()

    def __repr__(self) -> str:
        return "ApprovalSigner()"

    def _mac(self, action_id: str, expires_at: int) -> str:
        message = _CONTEXT + action_id.encode() + b"\n" + str(expires_at).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def token(self, action_id: str, expires_at: float) -> str:
        exp = int(expires_at)
        return f"{exp}.{self._mac(action_id, exp)}"

    def verify(self, action_id: str, token: str, now: float) -> int:
        """The token's expiry if it approves `action_id` at `now`; raises ApprovalError otherwise."""
        exp_text, _, mac = token.strip().partition(".")
        if not exp_text.isdigit() or not mac:
            raise ApprovalError("approval token is malformed")
        exp = int(exp_text)
        if not hmac.compare_digest(self._mac(action_id, exp), mac):
            raise ApprovalError("approval token is not valid for this action")
        if now > exp:
            raise ApprovalError("approval token has expired")
        return exp


def approval_url(base_url: str, action_id: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/api/actions/{action_id}/approve?token={quote(token, safe='')}"
