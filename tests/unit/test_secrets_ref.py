"""The one secret-reference check (pipeline.secrets.SecretRef) and the config models that use it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from pipeline.actions import ActionsConfig
from pipeline.secrets import SecretRef, is_secret_ref
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.elasticsearch.config import ElasticsearchSinkConfig
from pipeline.sinks.splunk_hec.config import SplunkHecSinkConfig
from pipeline.sinks.sse.config import SseConfig
from pipeline.sinks.syslog.config import SyslogSinkConfig

MESSAGE = "must be a secret reference 'env:NAME' or 'file:/path' (inline secrets are refused)"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("env:EXMAIL_TOKEN", True),
        ("env:_x1", True),
        ("file:/run/secrets/token", True),
        ("file:~/token", True),
        ("env:", False),
        ("file:", False),
        ("env:1BAD", False),
        ("env:WITH-DASH", False),
        ("plain-secret-value", False),
        ("", False),
        (None, False),
        (42, False),
    ],
)
def test_is_secret_ref(value: Any, ok: bool) -> None:
    assert is_secret_ref(value) is ok


class _Model(BaseModel):
    required: SecretRef
    optional: SecretRef | None = None


def test_secret_ref_field_refuses_inline_values() -> None:
    assert _Model(required="env:A").optional is None
    with pytest.raises(ValidationError, match="inline secrets are refused") as info:
        _Model(required="env:A", optional="hunter2")
    assert [e["loc"] for e in info.value.errors()] == [("optional",)]


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda v: ActionsConfig.model_validate({"approval": {"secret": v}}), "secret"),
        (lambda v: ActionsConfig.model_validate({"api_token": v}), "api_token"),
        (lambda v: SseConfig(token=v), "token"),
        (lambda v: AuditStoreConfig(kind="postgres", dsn=v), "dsn"),
        (lambda v: SplunkHecSinkConfig(name="s", url="https://splunk.example:8088", token=v), "token"),
        (lambda v: ElasticsearchSinkConfig(name="e", url="https://es.example:9200", api_key=v), "api_key"),
        (lambda v: SyslogSinkConfig(name="l", host="siem.example", transport="tls", key_password=v), "key_password"),
    ],
)
def test_every_secret_field_uses_the_one_check(build: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        build("inline-secret-value")
    [error] = [e for e in info.value.errors() if e["loc"][-1] == field]
    assert MESSAGE in error["msg"]
