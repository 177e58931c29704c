"""Generic webhook / OA delivery sink (signed JSON POST; scheme in signing.py, body in payload.schema.json)."""

from pipeline.sinks.webhook.config import WebhookConfig
from pipeline.sinks.webhook.signing import signature, verify
from pipeline.sinks.webhook.sink import WebhookSink

__all__ = ["WebhookConfig", "WebhookSink", "signature", "verify"]
