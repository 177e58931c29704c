"""DingTalk custom robot errcodes: which to retry (throttling, 20 messages per minute per robot) and which are
final (token gone, signature or keyword mismatch, robot disabled)."""

from __future__ import annotations

from pipeline.sinks.delivery.errors import CodeRule, CodeTable, ErrorClass

_T, _P = ErrorClass.TRANSIENT, ErrorClass.PERMANENT

DINGTALK_ERRCODES = CodeTable({
    -1: CodeRule(_T, "system busy"),
    130101: CodeRule(_T, "sending too fast (20/min per robot)", rate_limited=True),
    410100: CodeRule(_T, "sending too fast", rate_limited=True),
    300001: CodeRule(_P, "robot access_token does not exist"),
    310000: CodeRule(_P, "sign not match, keyword missing or IP not allowed"),
    400013: CodeRule(_P, "robot disabled"),
    460101: CodeRule(_P, "message too long"),
})  # answers are {"errcode": .., "errmsg": ..}

classify_dingtalk = DINGTALK_ERRCODES.classify
dingtalk_reply = DINGTALK_ERRCODES.reply
