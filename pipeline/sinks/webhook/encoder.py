"""Notification -> the documented JSON payload (payload.schema.json). Over `max_body_bytes`, alerts are
dropped from the end (counted in `truncated_alerts`), then text and markdown are truncated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline.sinks.delivery.http import json_bytes
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.sink import EncodeError
from pipeline.sinks.delivery.splitting import truncate_utf8, utf8_len
from pipeline.sinks.delivery.templates import MessageRenderer
from pipeline.sinks.webhook.config import WebhookConfig

PAYLOAD_VERSION = "exmail.webhook/1"
SCHEMA_PATH = Path(__file__).with_name("payload.schema.json")


class WebhookEncoder:
    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.renderer = MessageRenderer(config.language, config.templates)

    def payload(self, n: Notification) -> dict[str, Any]:
        alerts = [a.to_dict() for a in n.alerts]
        cut = len(alerts) - self.config.max_alerts if self.config.max_alerts else 0
        if cut > 0:
            alerts = alerts[: self.config.max_alerts]
        return {
            "version": PAYLOAD_VERSION, "receiver": n.receiver, "group_key": n.group_key,
            "idempotency_key": n.idempotency_key, "corp_id": n.corp_id, "status": n.status,
            "severity": n.severity, "reason": n.reason, "language": self.config.language,
            "title": self.renderer.title(n), "text": self.renderer.text(n), "markdown": self.renderer.markdown(n),
            "alerts": alerts, "truncated_alerts": max(0, cut),
            "sso_links": [s.to_dict() for s in n.sso_links], "recipients": list(n.recipients),
        }

    def encode(self, n: Notification) -> list[bytes]:
        payload = self.payload(n)
        body = json_bytes(payload)
        limit = self.config.max_body_bytes
        while len(body) > limit and payload["alerts"]:
            payload["alerts"].pop()
            payload["truncated_alerts"] += 1
            body = json_bytes(payload)
        for field in ("markdown", "text"):
            if len(body) <= limit:
                break
            excess = len(body) - limit
            payload[field] = truncate_utf8(payload[field], max(0, utf8_len(payload[field]) - excess - 8))
            body = json_bytes(payload)
        if len(body) > limit:
            raise EncodeError(f"payload is {len(body)} bytes even without alerts and texts (max_body_bytes {limit})")
        return [body]
