"""Signing schemes: known answers computed here from hmac/hashlib, and the simulators accept them."""

from __future__ import annotations

import base64
import hashlib
import hmac

from pipeline.sim.receiver.app import expected_signature
from pipeline.sim.receiver.chat_robots import dingtalk_expected_sign, feishu_expected_sign
from pipeline.sinks.dingtalk import dingtalk_sign
from pipeline.sinks.feishu import feishu_sign
from pipeline.sinks.webhook import signature, verify

SECRET = "SEC0123456789abcdef密钥"


def test_dingtalk_sign_known_answer() -> None:
    ts = 1_800_000_000_123
    want = base64.b64encode(hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
    assert dingtalk_sign(SECRET, ts) == want
    assert dingtalk_sign(SECRET, str(ts)) == want
    assert dingtalk_expected_sign(SECRET, str(ts)) == want
    assert dingtalk_sign(SECRET, ts + 1) != want


def test_feishu_sign_uses_the_signing_string_as_key_over_an_empty_message() -> None:
    ts = 1_800_000_000
    want = base64.b64encode(hmac.new(f"{ts}\n{SECRET}".encode(), b"", hashlib.sha256).digest()).decode()
    assert feishu_sign(SECRET, ts) == want
    assert feishu_expected_sign(SECRET, str(ts)) == want
    # the DingTalk construction (secret as key) gives a different answer: the documented trap
    assert feishu_sign(SECRET, ts) != dingtalk_sign(SECRET, ts)


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
