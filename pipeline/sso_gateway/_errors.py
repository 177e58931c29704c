"""The one error of the gateway: a login refused, with a reason code (the refusal page and the audit record
name it) and a detail for operators (recorded; never a secret, never shown to the employee verbatim)."""

from __future__ import annotations


class LoginRefused(Exception):
    """`reason` is a key of pipeline.sso_gateway._pages.REFUSALS."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
