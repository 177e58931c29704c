"""Notification -> Feishu robot bodies (text, or an interactive card with a markdown element), split so
each whole body fits in 20 KB with room for the timestamp and sign fields added per attempt."""

from __future__ import annotations

from typing import Any

from pipeline.sinks.delivery.http import json_bytes
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.splitting import Part, split_to_fit
from pipeline.sinks.delivery.templates import MessageRenderer
from pipeline.sinks.feishu.config import FeishuConfig

# What the per-attempt signature adds to a body, measured with the widest values.
SIGNATURE_PLACEHOLDER = {"timestamp": "9999999999", "sign": "A" * 44}
#: Feishu card header templates and <font color> names share these colour words
COLORS = {"critical": "red", "high": "red", "warning": "orange", "info": "blue", "resolved": "green"}


class FeishuEncoder:
    def __init__(self, config: FeishuConfig) -> None:
        self.config = config
        self.renderer = MessageRenderer(config.language, config.templates, colors=COLORS)

    def encode(self, n: Notification) -> list[dict[str, Any]]:
        cfg = self.config
        if cfg.msg_type == "text":
            mention = '<at user_id="all">所有人</at> ' if cfg.at_all else ""
            text = self.renderer.text(n)

            def body(p: Part) -> dict[str, Any]:
                prefix = mention if p.index == 1 else ""
                return {"msg_type": "text", "content": {"text": prefix + p.text}}
        else:
            title = self.renderer.title(n)
            color = COLORS["resolved"] if n.status == "resolved" else COLORS.get(n.severity, COLORS["warning"])
            markdown = self.renderer.markdown(n)
            if markdown.startswith("## "):
                markdown = markdown.split("\n", 1)[1] if "\n" in markdown else ""
            if cfg.at_all:
                markdown = '<at id=all></at>\n' + markdown

            def body(p: Part) -> dict[str, Any]:
                header = f"{title} ({p.index}/{p.total})" if p.total > 1 else title
                return {"msg_type": "interactive", "card": {
                    "config": {"wide_screen_mode": True},
                    "header": {"title": {"tag": "plain_text", "content": header}, "template": color},
                    "elements": [{"tag": "markdown", "content": p.chunk if p.total > 1 else p.text}]}}
            text = markdown

        def size(p: Part) -> bytes:
            return json_bytes({**SIGNATURE_PLACEHOLDER, **body(p)})

        parts = split_to_fit(text, cfg.max_body_bytes, size, max_parts=cfg.max_parts)
        return [body(p) for p in parts]
