"""Feishu/Lark custom robot signing: the string timestamp_s + "\\n" + secret is the HMAC-SHA256 *key*, the
message is empty; sign = base64(digest). `timestamp` (seconds, within one hour) and `sign` go in the JSON
body, not the URL."""

from __future__ import annotations

import base64
import hashlib
import hmac


def feishu_sign(secret: str, timestamp_s: int | str) -> str:
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")
