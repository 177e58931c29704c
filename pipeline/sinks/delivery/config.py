"""Settings every delivery sink has, and the secret field type its credentials use."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from pipeline.secrets import resolve_secret
from pipeline.sinks.delivery.http import HttpSettings
from pipeline.sinks.delivery.retry import RetrySettings
from pipeline.sinks.delivery.templates import Language, TemplateSettings

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def _resolve(value: Any, info: ValidationInfo) -> Any:
    """"env:NAME" and "file:/path" references are resolved here, so the config model only ever holds the
    value as a SecretStr (masked in reprs, dumps and validation errors). Validation context
    {"resolve_secrets": False} keeps the reference unresolved (`pipeline check-config` without the flag)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, str) and value.startswith(("env:", "file:")):
        if isinstance(info.context, dict) and info.context.get("resolve_secrets") is False:
            return value
        return resolve_secret(value)
    return value


Secret = Annotated[SecretStr, BeforeValidator(_resolve)]


class DeliverySettings(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(..., description="receiver/integration name; a metrics label, so no secrets in it")
    language: Language = Field("zh", description="language of the default templates: zh or en")
    templates: TemplateSettings = Field(default_factory=TemplateSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    max_parts: int = Field(5, ge=1, le=50,
                           description="a message longer than this many parts is truncated in the last one")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must be 1-64 letters, digits, '_', '.', '-', starting with a letter or digit")
        return value
