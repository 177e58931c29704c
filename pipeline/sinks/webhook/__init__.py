"""Generic webhook / OA delivery sink (signed JSON POST; scheme in signing.py, body in payload.schema.json)."""

from pipeline.sinks._spec import SinkSpec
from pipeline.sinks.webhook.config import WebhookConfig
from pipeline.sinks.webhook.signing import signature, verify
from pipeline.sinks.webhook.sink import WebhookSink

SINK = SinkSpec("webhook", "receiver", WebhookConfig, WebhookSink, "signed JSON POST to an OA or any HTTP endpoint")

__all__ = ["SINK", "WebhookConfig", "WebhookSink", "signature", "verify"]
