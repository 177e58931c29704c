"""DingTalk's errcode table: throttling is retried, the rest is final."""

from __future__ import annotations

import pytest

from pipeline.sinks.delivery.errors import ErrorClass
from pipeline.sinks.dingtalk.errors import classify_dingtalk

T, R, P, OK = ErrorClass.TRANSIENT, ErrorClass.TOKEN_REFRESH, ErrorClass.PERMANENT, ErrorClass.OK


@pytest.mark.parametrize(("errcode", "klass"), [
    (0, OK), (130101, T), (410100, T), (-1, T), (310000, P), (300001, P), (460101, P), (99999, P)])
def test_dingtalk_errcodes(errcode: int, klass: ErrorClass) -> None:
    assert classify_dingtalk(errcode).error_class is klass
