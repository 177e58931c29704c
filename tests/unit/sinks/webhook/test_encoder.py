"""Webhook payloads: valid against payload.schema.json and cut to max_body_bytes."""

from __future__ import annotations

import json
from collections.abc import Callable

import jsonschema
import orjson

from pipeline.sinks.delivery.notification import AlertItem, Notification
from pipeline.sinks.webhook import WebhookConfig
from pipeline.sinks.webhook.encoder import SCHEMA_PATH

Make = Callable[..., Notification]


def big_notification(make: Make, n_alerts: int = 40) -> Notification:
    return make(n_alerts=n_alerts)


def test_webhook_payload_matches_its_schema(make: Make) -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    from pipeline.sinks.webhook.encoder import WebhookEncoder

    enc = WebhookEncoder(WebhookConfig(name="oa", url="https://oa.test/hook", secret="s", language="en"))
    for n in (make(), make(n_alerts=0), make(alerts=(AlertItem(labels={}, status="resolved"),))):
        jsonschema.validate(orjson.loads(enc.encode(n)[0]), schema)


def test_webhook_payload_is_cut_to_max_body_bytes(make: Make) -> None:
    from pipeline.sinks.webhook.encoder import WebhookEncoder

    enc = WebhookEncoder(WebhookConfig(name="oa", url="https://oa.test/hook", secret="s", max_body_bytes=8192))
    [body] = enc.encode(big_notification(make, 200))
    payload = orjson.loads(body)
    assert len(body) <= 8192 and payload["truncated_alerts"] > 0
    assert len(payload["alerts"]) + payload["truncated_alerts"] == 200
    limited = WebhookEncoder(WebhookConfig(name="oa", url="https://oa.test/h", secret="s", max_alerts=3))
    assert orjson.loads(limited.encode(big_notification(make, 10))[0])["truncated_alerts"] == 7
