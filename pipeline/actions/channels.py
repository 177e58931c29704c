"""Secure channels for initial passwords: the only place a generated password ever goes.

A channel returns a receipt (channel name and a non-secret reference) that the action record keeps; the
password itself is in no record, log line, exception message or repr.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import orjson
from pydantic import SecretStr

from pipeline.actions.config import FileDropChannelConfig, WebhookChannelConfig
from pipeline.envelope import utc_iso
from pipeline.secrets import resolve_secret

CREDENTIAL_SCHEMA = "exmail.initial_password/1"
SIGNATURE_HEADER = "X-Exmail-Signature"
TIMESTAMP_HEADER = "X-Exmail-Timestamp"


class DeliveryFailed(RuntimeError):
    """The channel could not take the credential; the message names the channel and the cause, no secret."""


@dataclass(frozen=True, slots=True)
class Credential:
    corp_id: str
    userid: str
    employee_id: str | None
    action_id: str
    password: SecretStr = field(repr=False)

    def payload(self) -> bytes:
        return orjson.dumps(
            {
                "schema": CREDENTIAL_SCHEMA,
                "corp_id": self.corp_id,
                "userid": self.userid,
                "employee_id": self.employee_id,
                "action_id": self.action_id,
                "password": self.password.get_secret_value(),
                "must_change_at_first_login": True,
                "issued_at": utc_iso(),
            }
        )


class SecretChannel(Protocol):
    name: str

    async def deliver(self, credential: Credential) -> str:
        """Hand over the credential; returns a non-secret reference (file name, HTTP status)."""
        ...


class FileDropChannel:
    """One JSON file per account (mode 0600) in a 0700 directory, replaced atomically on a re-issue."""

    name = "file"

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"FileDropChannel({str(self.directory)!r})"

    async def deliver(self, credential: Credential) -> str:
        return await asyncio.to_thread(self._write, credential)

    def _write(self, credential: Credential) -> str:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if self.directory.stat().st_mode & 0o077:
                raise DeliveryFailed(f"file channel: {self.directory} is readable by others; chmod 700 it")
            name = f"{credential.action_id}.json"
            tmp = self.directory / f".{name}.{os.getpid()}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(credential.payload())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / name)
        except OSError as exc:
            raise DeliveryFailed(
                f"file channel: cannot write into {self.directory}: {exc.strerror}"
            ) from None
        return name


class WebhookChannel:
    """POST the credential as JSON, signed with HMAC-SHA256 over "<timestamp>.<body>"; 2xx = delivered."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        max_attempts: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.url = url
        self._secret = secret.encode()
        self._timeout = timeout
        self._attempts = max_attempts
        self._transport = transport
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"WebhookChannel({self.url!r})"

    def sign(self, timestamp: str, body: bytes) -> str:
        return (
            "sha256=" + hmac.new(self._secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        )

    async def deliver(self, credential: Credential) -> str:
        body = credential.payload()
        last = "no attempt"
        async with httpx.AsyncClient(
            timeout=self._timeout, transport=self._transport, follow_redirects=False
        ) as http:
            for attempt in range(self._attempts):
                ts = str(int(self._clock()))
                headers = {
                    "Content-Type": "application/json",
                    TIMESTAMP_HEADER: ts,
                    SIGNATURE_HEADER: self.sign(ts, body),
                }
                try:
                    response = await http.post(self.url, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                else:
                    if 200 <= response.status_code < 300:
                        return f"HTTP {response.status_code}"
                    last = f"HTTP {response.status_code}"
                    if response.status_code < 500 and response.status_code != 429:
                        break
                if attempt + 1 < self._attempts:
                    await self._sleep(min(2.0, 0.2 * 2**attempt))
        raise DeliveryFailed(f"webhook channel: delivery failed ({last})")


def build_channel(
    config: FileDropChannelConfig | WebhookChannelConfig | None,
    resolve: Callable[[str], str] = resolve_secret,
    **webhook_options: Any,
) -> SecretChannel | None:
    if config is None:
        return None
    if isinstance(config, FileDropChannelConfig):
        return FileDropChannel(config.dir)
    return WebhookChannel(
        config.url,
        resolve(config.secret),
        timeout=config.timeout_seconds,
        max_attempts=config.max_attempts,
        **webhook_options,
    )
