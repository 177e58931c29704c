"""Feishu/Lark custom robot codes: 11232 is throttling (retried with a floor); the 19xxx codes are final
(bad token, signature, IP, keyword, body size)."""

from __future__ import annotations

from pipeline.sinks.delivery.errors import AttemptResult, CodeRule, CodeTable, ErrorClass

_T, _P = ErrorClass.TRANSIENT, ErrorClass.PERMANENT

FEISHU_CODES = CodeTable({
    11232: CodeRule(_T, "frequency limited", rate_limited=True),
    9499: CodeRule(_P, "bad request"),
    19001: CodeRule(_P, "invalid webhook token or parameter"),
    19002: CodeRule(_P, "invalid msg_type or content"),
    19021: CodeRule(_P, "sign match fail or timestamp outside one hour"),
    19022: CodeRule(_P, "IP not allowed"),
    19024: CodeRule(_P, "keyword missing"),
    19036: CodeRule(_P, "request body too large"),
}, code_field="code", msg_field="msg")
# older hooks answer {"StatusCode": .., "StatusMessage": ..} with the same codes
_OLD_SHAPE = CodeTable(FEISHU_CODES, code_field="StatusCode", msg_field="StatusMessage")

classify_feishu = FEISHU_CODES.classify


def feishu_reply(status: int, body: object) -> AttemptResult:
    """Feishu answers {"code": .., "msg": ..}; older hooks answered {"StatusCode": 0, "StatusMessage": ..}."""
    if isinstance(body, dict) and "code" not in body and isinstance(body.get("StatusCode"), int):
        return _OLD_SHAPE.reply(status, body)
    return FEISHU_CODES.reply(status, body)
