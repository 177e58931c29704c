"""Notification -> DingTalk robot bodies (text or markdown), split so each whole body fits."""

from __future__ import annotations

from typing import Any

from pipeline.sinks.delivery.http import json_bytes
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.splitting import Part, split_to_fit
from pipeline.sinks.delivery.templates import MessageRenderer
from pipeline.sinks.dingtalk.config import DingTalkConfig

#: DingTalk markdown takes any hex colour in <font color>
COLORS = {"critical": "#d93026", "high": "#d93026", "warning": "#f5a623", "info": "#1890ff", "resolved": "#52c41a"}


class DingTalkEncoder:
    def __init__(self, config: DingTalkConfig) -> None:
        self.config = config
        self.renderer = MessageRenderer(config.language, config.templates, colors=COLORS)

    def _at(self, first: bool) -> dict[str, Any]:
        cfg = self.config
        if not first:
            return {"atMobiles": [], "atUserIds": [], "isAtAll": False}
        return {"atMobiles": list(cfg.at_mobiles), "atUserIds": list(cfg.at_user_ids), "isAtAll": cfg.at_all}

    def encode(self, n: Notification) -> list[bytes]:
        cfg = self.config
        mentions = " ".join([f"@{m}" for m in cfg.at_mobiles] + [f"@{u}" for u in cfg.at_user_ids])
        if cfg.msgtype == "text":
            text = self.renderer.text(n) + (f"\n{mentions}" if mentions else "")

            def build(p: Part) -> bytes:
                return json_bytes({"msgtype": "text", "text": {"content": p.text}, "at": self._at(p.index == 1)})
        else:
            title = self.renderer.title(n)
            text = self.renderer.markdown(n) + (f"\n\n{mentions}" if mentions else "")

            def build(p: Part) -> bytes:
                return json_bytes({"msgtype": "markdown", "markdown": {"title": title, "text": p.text},
                                   "at": self._at(p.index == 1)})

        return [build(p) for p in split_to_fit(text, cfg.max_body_bytes, build, max_parts=cfg.max_parts)]
