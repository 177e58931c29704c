"""The webhook signature scheme (what an OA system or any receiver verifies).

Headers on every POST:
    X-Exmail-Timestamp: <unix time in whole seconds, decimal>
    X-Exmail-Signature: sha256=<lower-case hex of HMAC-SHA256(key=secret, msg=timestamp + "." + body)>
    X-Exmail-Idempotency-Key: <the notification's idempotency key; equal on every resend>

`secret` is the shared secret's UTF-8 bytes; `body` is the exact request body bytes (UTF-8 JSON, see
payload.schema.json); "." is one ASCII dot. Receivers should recompute the HMAC over the raw body before
parsing it, compare in constant time, and reject timestamps more than 5 minutes from their clock (the
timestamp is signed, so it cannot be moved without breaking the signature). Header names are configurable.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "sha256"
DEFAULT_TIMESTAMP_HEADER = "X-Exmail-Timestamp"
DEFAULT_SIGNATURE_HEADER = "X-Exmail-Signature"
IDEMPOTENCY_HEADER = "X-Exmail-Idempotency-Key"
DEFAULT_TOLERANCE_S = 300


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Exmail-Signature value for `body` sent at `timestamp`."""
    return Signer(secret).sign(timestamp, body)


class Signer:
    """`signature` for one secret, with the HMAC keyed once: a copy of the keyed state costs less per request
    than keying again (the key's inner and outer pads are already hashed)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str) -> None:
        self._keyed = hmac.new(secret.encode("utf-8"), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "Signer()"

    def sign(self, timestamp: str, body: bytes) -> str:
        mac = self._keyed.copy()
        mac.update(timestamp.encode("ascii") + b"." + body)
        return f"{SCHEME}={mac.hexdigest()}"


def verify(secret: str, timestamp: str, body: bytes, header: str, *, now: float,
           tolerance_s: float = DEFAULT_TOLERANCE_S) -> bool:
    """True when `header` is the signature of `body` at `timestamp` and `timestamp` is within tolerance."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance_s:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header.strip())
