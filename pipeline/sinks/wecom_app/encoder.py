"""Notification -> WeCom app message bodies: text/markdown split at 2048 bytes, textcard truncated; at most
1000 users per call. The body carries no timestamp, so a resend of one notification is byte-identical and
WeCom's duplicate check can hide it; it does carry a short reference of the notification's idempotency key,
so two different notifications that render to the same text are both shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.envelope import fingerprint
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.sink import EncodeError
from pipeline.sinks.delivery.splitting import split_utf8, truncate_utf8, utf8_len
from pipeline.sinks.delivery.templates import MessageRenderer, safe
from pipeline.sinks.wecom_app.config import WeComAppConfig
from pipeline.sinks.wecom_app.recipients import UserMapper

MAX_USERS_PER_CALL = 1000
TEXTCARD_TITLE_BYTES = 128
TEXTCARD_DESCRIPTION_BYTES = 512
#: WeCom markdown has three named font colours (the robot's markdown uses the same)
COLORS = {"critical": "warning", "high": "warning", "warning": "comment", "info": "info", "resolved": "info"}


@dataclass(frozen=True, slots=True)
class AppMessage:
    index: int
    total: int
    users: tuple[str, ...]
    body: dict[str, Any]
    unmapped: tuple[str, ...] = ()


class AppEncoder:
    def __init__(self, config: WeComAppConfig) -> None:
        self.config = config
        self.renderer = MessageRenderer(config.language, config.templates, colors=COLORS)
        self.mapper = UserMapper(config.user_map, config.user_rule, config.lowercase)

    def _footer(self, n: Notification, markdown: bool) -> str:
        if not self.config.reference_footer:
            return ""
        ref = f"ref {fingerprint('notification', n.idempotency_key)[:8]}"
        return f'\n\n<font color="comment">{ref}</font>' if markdown else f"\n\n{ref}"

    def _contents(self, n: Notification) -> list[tuple[str, dict[str, Any]]]:
        cfg = self.config
        url = n.sso_links[0].url if n.sso_links else cfg.textcard_url
        if cfg.msgtype == "textcard" and url:
            footer = self._footer(n, markdown=False)
            description = truncate_utf8(self.renderer.text(n), TEXTCARD_DESCRIPTION_BYTES - utf8_len(footer))
            card = {"title": truncate_utf8(self.renderer.title(n), TEXTCARD_TITLE_BYTES),
                    "description": description + footer, "url": url}
            if cfg.textcard_button:
                card["btntxt"] = cfg.textcard_button
            return [("textcard", card)]
        if cfg.msgtype == "markdown":
            content = self.renderer.markdown(n) + self._footer(n, markdown=True)
            parts = split_utf8(content, cfg.markdown_max_bytes, max_parts=cfg.max_parts)
            return [("markdown", {"content": p.text}) for p in parts]
        content = self.renderer.text(n) + self._footer(n, markdown=False)
        parts = split_utf8(content, cfg.text_max_bytes, max_parts=cfg.max_parts)
        return [("text", {"content": p.text}) for p in parts]

    def encode(self, n: Notification) -> list[AppMessage]:
        cfg = self.config
        wanted = list(cfg.to_users) + (list(n.recipients) if cfg.notify_recipients else [])
        users, unmapped = self.mapper.map_all(wanted)
        if not (users or cfg.to_party or cfg.to_tag):
            names = ", ".join(safe(u) for u in unmapped[:10]) or "none given"
            raise EncodeError(f"no WeCom recipient: Exmail userids without a mapping: {names}")
        batches = [tuple(users[i:i + MAX_USERS_PER_CALL]) for i in range(0, len(users), MAX_USERS_PER_CALL)]
        contents = self._contents(n)
        total = len(contents) * max(1, len(batches))
        out: list[AppMessage] = []
        for msgtype, content in contents:
            for batch in batches or [()]:
                body: dict[str, Any] = {"touser": "|".join(batch), "toparty": "|".join(cfg.to_party),
                                        "totag": "|".join(cfg.to_tag), "msgtype": msgtype,
                                        "agentid": cfg.agent_id, msgtype: content, "safe": int(cfg.safe),
                                        "enable_duplicate_check": int(cfg.duplicate_check)}
                if cfg.duplicate_check:
                    body["duplicate_check_interval"] = cfg.duplicate_check_interval
                out.append(AppMessage(len(out) + 1, total, batch, body, tuple(unmapped)))
        return out
