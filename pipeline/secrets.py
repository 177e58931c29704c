"""Secret handling: references to env vars or files in config, and scrubbing before anything leaves the process.

Secrets (CorpSecret, tokens, webhook keys, AES keys, passwords) never appear inline in config, logs, reprs,
metrics or DLQ records.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import traceback
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator


def b64url(data: bytes) -> str:
    """URL-safe base64 without padding: signed links, states and cookies."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """The inverse of b64url; raises binascii.Error (a ValueError) on malformed input."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

REDACTED = "***"

# Keys whose values are secret wherever they appear (matched case-insensitively, ignoring - and _).
_SECRET_KEYS = {
    "accesstoken", "corpsecret", "secret", "password", "passwd", "token", "key", "sign", "signature",
    "msgsignature", "encodingaeskey", "aeskey", "authkey", "apikey", "apisecret", "authorization",
    "hmacsecret", "webhookkey", "initialpassword", "dsn", "cookie", "echostr",
}
_SECRET_QUERY = re.compile(
    r"(?i)\b(access_token|corpsecret|key|sign|authkey|token|password|secret|msg_signature|signature|sig"
    r"|sso_token)=([^&\s\"'<>]+)"
)
# an SSO link's token (?t=<payload>.<mac>, pipeline/sso.py): the shape, so a bare "t=" elsewhere is kept
_SSO_TOKEN = re.compile(r"\b(t)=([A-Za-z0-9_-]{16,}(?:\.|%2E)[A-Za-z0-9_-]{16,})")
# tokens carried in URL paths: Feishu/Lark and generic /hook/<token>, Slack /services/T../B../<secret>
_PATH_TOKEN = re.compile(r"(?i)(/(?:hook|hooks|webhook|webhooks)/)((?=[A-Za-z_-]*[0-9])[A-Za-z0-9_-]{8,})")
_SLACK_PATH = re.compile(r"(/services/[A-Z0-9]+/[A-Z0-9]+/)([A-Za-z0-9]{8,})")
# HMAC signatures in headers or text ("sha256=<hex>", X-HR-Signature, webhook signatures)
_HEX_SIGNATURE = re.compile(r"(?i)\b(sha(?:1|256|512)=)([0-9a-f]{32,})")
# secret-named fields inside JSON that travels as text (an echoed request body in an error message)
_JSON_FIELD = re.compile(r'(?i)("(?:sign|signature|token|secret|key|access_token|password|hook_token)"\s*:\s*")'
                         r'([^"\\]{4,})(")')
_BEARER = re.compile(r"(?i)\b(Bearer|Splunk)\s+[A-Za-z0-9._~+/=-]+")
_DSN_PASSWORD = re.compile(r"(?i)(postgres(?:ql)?://[^:/@\s]+:)([^@\s]+)(@)")


def _norm(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def is_secret_key(key: str) -> bool:
    return _norm(key) in _SECRET_KEYS


def scrub_text(text: str) -> str:
    """Mask secrets embedded in URLs, headers and DSNs inside free text."""
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _SSO_TOKEN.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _PATH_TOKEN.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _SLACK_PATH.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _HEX_SIGNATURE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
    text = _JSON_FIELD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _DSN_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", text)


def is_masked(value: Any) -> bool:
    """Whether a (scrubbed) record holds a masked value: resending it would send "***" where a live
    credential or link was."""
    if isinstance(value, dict):
        return any(is_masked(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_masked(v) for v in value)
    return isinstance(value, str) and REDACTED in value


class _ScrubbingRecord(logging.LogRecord):
    """A log record whose message (and traceback) is scrubbed once, when a handler first formats it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.exc_info and self.exc_info[0] is not None:  # exception texts carry URLs with keys
            self.exc_text = scrub_text("".join(traceback.format_exception(*self.exc_info)).rstrip("\n"))

    def getMessage(self) -> str:
        cached = self.__dict__.get("_scrubbed")
        if cached is None:
            cached = scrub_text(super().getMessage())
            self.__dict__["_scrubbed"] = cached
        return cached


def install_log_scrubbing() -> None:
    """Every log record of this process leaves scrubbed (message and traceback), whoever formats it: tokens
    in query strings and URL paths, SSO links, signatures, bearer tokens, DSN passwords."""
    if logging.getLogRecordFactory() is logging.LogRecord:  # keep a factory someone else installed
        logging.setLogRecordFactory(_ScrubbingRecord)


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


SECRET_REF = re.compile(r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+)$")


def is_secret_ref(value: object) -> bool:
    """Whether `value` is a secret reference: "env:NAME" (NAME an environment variable name) or "file:/path"."""
    return isinstance(value, str) and SECRET_REF.match(value) is not None


def check_secret_ref(value: str) -> str:
    """The one "must be a secret reference" check of every config model (through `SecretRef`)."""
    if not is_secret_ref(value):
        raise ValueError("must be a secret reference 'env:NAME' or 'file:/path' (inline secrets are refused)")
    return value


SecretRef = Annotated[str, AfterValidator(check_secret_ref)]
"""A config field holding a secret reference ("env:NAME" or "file:/path"); inline values fail validation.
Use `SecretRef | None` for an optional one. Every model that holds a secret, itself or in a nested model, sets
hide_input_in_errors: pydantic would print the rejected input (a typed-in secret, or a model validator's whole
input) in the ValidationError's text (tests/unit/test_secrets_ref.py finds any model that does not)."""
