"""`pipeline replay` never resends a payload whose credentials or links were masked."""

from __future__ import annotations

import orjson

from pipeline.dlq import Origin, dead_letter
from pipeline.kafka import KafkaSettings
from pipeline.replay import DeadLetter, replay

LINK = "https://p.example/sso?t=eyJjIjoid20xIiwidSI6ImFAeC5jb20ifQ.q2Vb0mNf7Tn3xYc9LrA1s2D3"


def test_masked_payloads_are_refused_and_routing_records_are_replayed() -> None:
    rendered = dead_letter(stage="delivery.wecom_robot", reason="93000", origin=Origin("exmail.notifications",
                           0, 4, "ops"), payload={"receiver": "ops", "sso_links": [{"url": LINK}]})
    routing = dead_letter(stage="delivery.wecom_robot", reason="93000", origin=Origin("exmail.notifications",
                          0, 5, "ops"), payload=orjson.dumps({"schema": "exmail.notification/1", "data": {
                              "receiver": "ops", "alerts": [{"sso_user": "a@x.com"}]}}))
    assert "q2Vb0mNf" not in rendered.encode().decode()
    result = replay(KafkaSettings(bootstrap="unused:1"), [DeadLetter(rendered, 0, 0), DeadLetter(routing, 0, 1)],
                    dry_run=True)
    assert (result.matched, result.masked, result.skipped) == (2, 1, 0)
    assert result.by_topic == {"exmail.notifications": 1}
