"""The receiver tests share the simulated-destination fixtures (one manual clock, mounted apps) with the WeCom
tests; they are defined once in tests/unit/sim/wecom/conftest.py."""

from ..wecom.conftest import clock, dingtalk, feishu, receiver

__all__ = ["clock", "dingtalk", "feishu", "receiver"]
