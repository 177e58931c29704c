"""Secret handling: references to env vars or files in config, and scrubbing before anything leaves the process.

Secrets (CorpSecret, tokens, webhook keys, AES keys, passwords) never appear inline in config, logs, reprs,
metrics or DLQ records.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator

REDACTED = "***"

# Keys whose values are secret wherever they appear (matched case-insensitively, ignoring - and _).
_SECRET_KEYS = {
    "accesstoken", "corpsecret", "secret", "password", "passwd", "token", "key", "sign", "signature",
    "msgsignature", "encodingaeskey", "aeskey", "authkey", "apikey", "apisecret", "authorization",
    "hmacsecret", "webhookkey", "initialpassword", "dsn", "cookie", "echostr",
}
_SECRET_QUERY = re.compile(
    r"(?i)\b(access_token|corpsecret|key|sign|authkey|token|password|secret|msg_signature)=([^&\s\"']+)"
)
_BEARER = re.compile(r"(?i)\b(Bearer|Splunk)\s+[A-Za-z0-9._~+/=-]+")
_DSN_PASSWORD = re.compile(r"(?i)(postgres(?:ql)?://[^:/@\s]+:)([^@\s]+)(@)")


def _norm(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def is_secret_key(key: str) -> bool:
    return _norm(key) in _SECRET_KEYS


def scrub_text(text: str) -> str:
    """Mask secrets embedded in URLs, headers and DSNs inside free text."""
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _DSN_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)


def scrub(value: Any, extra_values: frozenset[str] = frozenset()) -> Any:
    """Deep copy of `value` with secret-named keys masked, secret-looking substrings masked, and any of
    `extra_values` (known live secrets) replaced wherever they occur."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if isinstance(k, str) and is_secret_key(k) and v not in (None, "") else scrub(v, extra_values))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v, extra_values) for v in value]
    if isinstance(value, str):
        for s in extra_values:
            if s and s in value:
                value = value.replace(s, REDACTED)
        return scrub_text(value)
    return value


class SecretResolutionError(ValueError):
    """A secret reference could not be resolved; says which reference and why, never the value."""


def resolve_secret(ref: str) -> str:
    """Resolve "env:NAME" or "file:/path" to the secret value. Inline values are refused."""
    if ref.startswith("env:"):
        name = ref[4:]
        val = os.environ.get(name)
        if val is None or val == "":
            raise SecretResolutionError(f"environment variable {name} is not set (referenced as {ref!r})")
        return val
    if ref.startswith("file:"):
        path = Path(ref[5:]).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretResolutionError(f"cannot read secret file {path}: {exc.strerror}") from exc
    raise SecretResolutionError("secrets must be given as 'env:NAME' or 'file:/path', not inline")


def _secret_ref(value: str) -> str:
    if not (value.startswith("env:") and len(value) > 4) and not (value.startswith("file:") and len(value) > 5):
        raise ValueError("must be a secret reference 'env:NAME' or 'file:/path' (inline secrets are refused)")
    return value


SecretRef = Annotated[str, AfterValidator(_secret_ref)]
"""A config field holding a secret reference ("env:NAME" or "file:/path"); inline values fail validation."""
