from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.secrets import SecretResolutionError
from pipeline.sinks.sse import SseConfig, create_sse_app, sse_credentials
from pipeline.sinks.sse.server import HUB_KEY


def test_defaults_stream_notifications_with_every_applicable_filter() -> None:
    cfg = SseConfig(token="env:X")
    assert cfg.topics == ["exmail.notifications"]
    assert cfg.kinds == ("notification",)
    assert "receiver" in cfg.allowed_filters() and "dataset" not in cfg.allowed_filters()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"token": "plain-token"}, "secret reference"),
        ({}, "set token"),
        ({"token": "env:X", "allow_anonymous": True}, "exclude each other"),
        ({"token": "env:X", "filters": ["nope"]}, "unknown filter 'nope'"),
        ({"token": "env:X", "filters": ["dataset"]}, "matches nothing"),
        ({"token": "env:X", "topics": ["exmail.alerts", "exmail.alerts"]}, "must not repeat"),
        ({"token": "env:X", "topics": ["exmail.dlq"]}, "topics"),
        ({"token": "env:X", "max_clients": 0}, "max_clients"),
        ({"token": "env:X", "bogus": 1}, "bogus"),
    ],
)
def test_invalid_config_is_refused_with_a_clear_message(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SseConfig(**fields)


def test_inline_token_never_appears_in_the_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        SseConfig(token="hunter2-inline")
    assert "hunter2-inline" not in str(info.value)


def test_filters_may_be_restricted_and_allow_label_patterns() -> None:
    cfg = SseConfig(token="env:X", topics=["exmail.events", "exmail.alerts"], filters=["dataset", "label.*"])
    assert cfg.allowed_filters() == {"dataset", "label.*"}


def test_token_is_resolved_when_the_app_is_created(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSE_CFG_TOKEN", raising=False)
    cfg = SseConfig(token="env:SSE_CFG_TOKEN")
    with pytest.raises(SecretResolutionError, match="SSE_CFG_TOKEN"):
        sse_credentials(cfg)  # the worker resolves it while building, before it serves anything
    monkeypatch.setenv("SSE_CFG_TOKEN", "resolved-secret-value")
    assert [(name, value) for name, _, value in sse_credentials(cfg)] == [("sse-client", "resolved-secret-value")]
    app = create_sse_app(cfg, KafkaSettings(bootstrap="x:1"), TopicNames("p."))
    hub = app[HUB_KEY]
    assert hub.kinds == {"p.exmail.notifications": "notification"}
    assert "resolved-secret-value" not in repr(hub) + repr(cfg) + str(cfg.model_dump())
