"""The group robot answers in WeCom's errcode space (93000: robot removed, 45009: over 20/min): its table is
the WeCom table the app sink owns, so a code is classified the same way on both paths."""

from pipeline.sinks.wecom_app.errors import WECOM_ERRCODES, classify_wecom, wecom_reply

__all__ = ["WECOM_ERRCODES", "classify_wecom", "wecom_reply"]
