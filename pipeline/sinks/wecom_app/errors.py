"""WeCom's errcodes (the app message API and the group robot answer in the same errcode space): which to retry,
which mean "refetch the access token", which are final."""

from __future__ import annotations

from pipeline.sinks.delivery.errors import CodeRule, CodeTable, ErrorClass

_T, _R, _P = ErrorClass.TRANSIENT, ErrorClass.TOKEN_REFRESH, ErrorClass.PERMANENT

WECOM_ERRCODES = CodeTable({
    -1: CodeRule(_T, "system busy"),
    45009: CodeRule(_T, "api frequency out of limit", rate_limited=True),
    45033: CodeRule(_T, "concurrent call limit exceeded", rate_limited=True),
    40014: CodeRule(_R, "invalid access_token"),
    42001: CodeRule(_R, "access_token expired"),
    41001: CodeRule(_R, "access_token missing"),
    40001: CodeRule(_P, "invalid secret"),
    40013: CodeRule(_P, "invalid corpid"),
    40008: CodeRule(_P, "invalid message type"),
    40056: CodeRule(_P, "invalid agentid"),
    40058: CodeRule(_P, "invalid parameter or content over the length limit"),
    44004: CodeRule(_P, "empty content"),
    47001: CodeRule(_P, "malformed request body"),
    60020: CodeRule(_P, "caller IP not on the app's trusted list"),
    81013: CodeRule(_P, "all recipients invalid"),
    93000: CodeRule(_P, "robot webhook invalid or robot removed"),
})  # answers are {"errcode": .., "errmsg": ..}

classify_wecom = WECOM_ERRCODES.classify
wecom_reply = WECOM_ERRCODES.reply
