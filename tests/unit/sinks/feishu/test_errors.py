"""Feishu's code table and both answer shapes (code/msg and the older StatusCode/StatusMessage)."""

from __future__ import annotations

import pytest

from pipeline.sinks.delivery.errors import ErrorClass
from pipeline.sinks.feishu.errors import classify_feishu, feishu_reply

T, R, P, OK = ErrorClass.TRANSIENT, ErrorClass.TOKEN_REFRESH, ErrorClass.PERMANENT, ErrorClass.OK


@pytest.mark.parametrize(("code", "klass"), [(0, OK), (11232, T), (19021, P), (19036, P), (19024, P), (19001, P)])
def test_feishu_codes(code: int, klass: ErrorClass) -> None:
    assert classify_feishu(code).error_class is klass


def test_feishu_old_and_new_answer_shapes() -> None:
    assert feishu_reply(200, {"StatusCode": 0, "StatusMessage": "success"}).ok
    assert feishu_reply(200, {"code": 19021, "msg": "sign match fail"}).error_class is P
