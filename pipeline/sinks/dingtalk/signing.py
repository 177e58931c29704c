"""DingTalk custom robot signing: sign = base64(HMAC-SHA256(key=secret, msg=timestamp_ms + "\\n" + secret)),
sent URL-encoded as &timestamp=<ms>&sign=<sign>; the timestamp must be within one hour of DingTalk's clock."""

from __future__ import annotations

import base64
import hashlib
import hmac


def dingtalk_sign(secret: str, timestamp_ms: int | str) -> str:
    """The base64 signature (URL-encode it when putting it in the query string)."""
    message = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode("utf-8"), message, hashlib.sha256).digest()).decode("ascii")
