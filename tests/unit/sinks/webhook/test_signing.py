"""The webhook signature: a known answer computed here from hmac/hashlib, verification, and the simulator accepts it."""

from __future__ import annotations

import hashlib
import hmac

from pipeline.sim.receiver.app import expected_signature
from pipeline.sinks.webhook import signature, verify

SECRET = "SEC0123456789abcdef密钥"


def test_webhook_signature_known_answer_and_verification() -> None:
    body = '{"title":"告警","n":1}'.encode()
    ts = "1800000000"
    want = "sha256=" + hmac.new(SECRET.encode(), b"1800000000." + body, hashlib.sha256).hexdigest()
    assert signature(SECRET, ts, body) == want
    assert expected_signature(SECRET, ts, body) == want
    assert verify(SECRET, ts, body, want, now=1_800_000_100)
    assert not verify(SECRET, ts, body + b" ", want, now=1_800_000_100)
    assert not verify("other", ts, body, want, now=1_800_000_100)
    assert not verify(SECRET, ts, body, want, now=1_800_000_301)  # stale
    assert not verify(SECRET, "not-a-number", body, want, now=1_800_000_000)


def test_one_signer_signs_every_request_independently() -> None:
    """The keyed HMAC is copied per request: signing one body never leaks into the next signature."""
    from pipeline.sinks.webhook.signing import Signer

    signer = Signer(SECRET)
    bodies = [b"{}", '{"a":"告警"}'.encode(), b"", b"{}"]
    for ts, body in zip(["1", "1800000000", "1800000001", "1"], bodies, strict=True):
        want = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert signer.sign(ts, body) == want == signature(SECRET, ts, body)
    assert SECRET not in repr(signer)
