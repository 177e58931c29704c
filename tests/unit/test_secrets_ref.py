"""The one secret-reference check (pipeline.secrets.SecretRef) and the config models that use it."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any, get_args

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

import pipeline
from pipeline.actions import ActionsConfig
from pipeline.secrets import SecretRef, check_secret_ref, is_secret_ref
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.elasticsearch.config import ElasticsearchSinkConfig
from pipeline.sinks.splunk_hec.config import SplunkHecSinkConfig
from pipeline.sinks.sse.config import SseConfig
from pipeline.sinks.syslog.config import SyslogSinkConfig
from pipeline.sinks.webhook.config import WebhookConfig
from pipeline.sources.config import IngestConfig

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
    assert "inline-secret-value" not in str(info.value)  # the refused value is not echoed back


def _pipeline_models() -> list[type[BaseModel]]:
    """Every pydantic model defined in the pipeline package (all of its modules imported)."""
    for module in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        importlib.import_module(module.name)
    found: list[type[BaseModel]] = []
    stack: list[type[BaseModel]] = [BaseModel]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in found:
                stack.append(sub)
                if sub.__module__.startswith("pipeline."):
                    found.append(sub)
    return found


def _holds_secret(annotation: Any, inside: tuple[type[BaseModel], ...] = ()) -> bool:
    """A SecretStr or SecretRef anywhere in the type: optional, in a container, or in a nested model."""
    if annotation is SecretStr or getattr(annotation, "func", None) is check_secret_ref:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation not in inside and any(
            _holds_secret(f.annotation, (*inside, annotation)) or any(_holds_secret(m) for m in f.metadata)
            for f in annotation.model_fields.values())
    return any(_holds_secret(arg, inside) for arg in get_args(annotation) if arg is not Ellipsis)


def test_every_model_holding_a_secret_keeps_input_out_of_validation_errors() -> None:
    """pydantic prints the rejected input in a ValidationError (a model validator's input is the whole object),
    and the model validated first decides: a secret typed inline, or a valid one beside a bad field, would be
    in the exception text. Every model that holds one, directly or in a nested model, hides its input."""
    models = _pipeline_models()
    holding = [m for m in models if _holds_secret(m)]
    assert len(holding) >= 25, "the scan no longer finds the config models"
    leaking = sorted(f"{m.__module__}.{m.__qualname__}" for m in holding
                     if not m.model_config.get("hide_input_in_errors"))
    assert leaking == []


@pytest.mark.parametrize(
    "build",
    [
        lambda: WebhookConfig(name="w", url="ftp://oa.example/hook?token=url-secret-value",
                              secret="hmac-secret-value"),
        lambda: IngestConfig.model_validate({"corps": [{"name": "c", "corp_id": "ww1",
                                                        "secrets": {"system_log": "corp-secret-value"}}]}),
    ],
)
def test_a_config_error_beside_a_secret_does_not_show_the_secret(build: Any) -> None:
    with pytest.raises(ValidationError) as info:
        build()
    text = f"{info.value}{info.value!r}"
    assert "secret-value" not in text
    assert info.value.errors(include_input=False)  # the problem itself is still reported
