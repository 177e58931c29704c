"""Feishu's signature: a known answer computed here from hmac/hashlib, and the simulator accepts it."""

from __future__ import annotations

import base64
import hashlib
import hmac

from pipeline.sim.receiver.chat_robots import feishu_expected_sign
from pipeline.sinks.dingtalk import dingtalk_sign
from pipeline.sinks.feishu import feishu_sign

SECRET = "SEC0123456789abcdef密钥"


def test_feishu_sign_uses_the_signing_string_as_key_over_an_empty_message() -> None:
    ts = 1_800_000_000
    want = base64.b64encode(hmac.new(f"{ts}\n{SECRET}".encode(), b"", hashlib.sha256).digest()).decode()
    assert feishu_sign(SECRET, ts) == want
    assert feishu_expected_sign(SECRET, str(ts)) == want
    # the DingTalk construction (secret as key) gives a different answer: the documented trap
    assert feishu_sign(SECRET, ts) != dingtalk_sign(SECRET, ts)
