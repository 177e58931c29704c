"""DingTalk's signature: a known answer computed here from hmac/hashlib, and the simulator accepts it."""

from __future__ import annotations

import base64
import hashlib
import hmac

from pipeline.sim.receiver.chat_robots import dingtalk_expected_sign
from pipeline.sinks.dingtalk import dingtalk_sign

SECRET = "SEC0123456789abcdef密钥"


def test_dingtalk_sign_known_answer() -> None:
    ts = 1_800_000_000_123
    want = base64.b64encode(hmac.new(SECRET.encode(), f"{ts}\n{SECRET}".encode(), hashlib.sha256).digest()).decode()
    assert dingtalk_sign(SECRET, ts) == want
    assert dingtalk_sign(SECRET, str(ts)) == want
    assert dingtalk_expected_sign(SECRET, str(ts)) == want
    assert dingtalk_sign(SECRET, ts + 1) != want
