"""Approval tokens (approval.py): valid, tampered, expired, for another action."""

from __future__ import annotations

import pytest

from pipeline.actions import (
    ApprovalError,
    ApprovalSigner,
)

DOMAIN = "corp.example.com"
SECRET = "approval-secret-0123456789abcdef"


def test_token_round_trip_and_refusals():
    signer = ApprovalSigner(SECRET)
    token = signer.token("a" * 32, 2000.0)
    assert signer.verify("a" * 32, token, 1999.0) == 2000
    with pytest.raises(ApprovalError, match="expired"):
        signer.verify("a" * 32, token, 2000.5)
    with pytest.raises(ApprovalError, match="not valid"):
        signer.verify("b" * 32, token, 1000.0)
    exp, mac = token.split(".")
    with pytest.raises(ApprovalError, match="not valid"):
        signer.verify("a" * 32, f"{int(exp) + 3600}.{mac}", 1000.0)
    tampered = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    with pytest.raises(ApprovalError, match="not valid"):
        signer.verify("a" * 32, f"{exp}.{tampered}", 1000.0)
    with pytest.raises(ApprovalError, match="malformed"):
        signer.verify("a" * 32, "garbage", 1000.0)
    with pytest.raises(ApprovalError, match="not valid"):
        ApprovalSigner("another-secret-0123456789").verify("a" * 32, token, 1000.0)
    with pytest.raises(ValueError):
        ApprovalSigner("short")
