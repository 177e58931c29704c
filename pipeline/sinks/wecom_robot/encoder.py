"""Notification -> WeCom robot message bodies, split by bytes (text 2048, markdown 4096)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.splitting import split_utf8
from pipeline.sinks.delivery.templates import MessageRenderer
from pipeline.sinks.wecom_app.encoder import COLORS  # one WeCom markdown palette for both WeCom sinks
from pipeline.sinks.wecom_robot.config import WeComRobotConfig


@dataclass(frozen=True, slots=True)
class RobotMessage:
    index: int
    total: int
    body: dict[str, Any]


class RobotEncoder:
    def __init__(self, config: WeComRobotConfig) -> None:
        self.config = config
        self.renderer = MessageRenderer(config.language, config.templates, colors=COLORS)

    def encode(self, n: Notification) -> list[RobotMessage]:
        cfg = self.config
        if cfg.msgtype == "text":
            parts = split_utf8(self.renderer.text(n), cfg.text_max_bytes, max_parts=cfg.max_parts)
            bodies: list[dict[str, Any]] = []
            for p in parts:
                text: dict[str, Any] = {"content": p.text}
                if p.index == 1 and cfg.mentioned_list:
                    text["mentioned_list"] = list(cfg.mentioned_list)
                if p.index == 1 and cfg.mentioned_mobile_list:
                    text["mentioned_mobile_list"] = list(cfg.mentioned_mobile_list)
                bodies.append({"msgtype": "text", "text": text})
        else:
            content = self.renderer.markdown(n)
            if cfg.msgtype == "markdown" and cfg.mentioned_list:
                content = "".join(f"<@{u}>" for u in cfg.mentioned_list) + "\n" + content
            parts = split_utf8(content, cfg.markdown_max_bytes, max_parts=cfg.max_parts)
            bodies = [{"msgtype": cfg.msgtype, cfg.msgtype: {"content": p.text}} for p in parts]
        return [RobotMessage(i, len(bodies), b) for i, b in enumerate(bodies, 1)]
