"""Secure channels for initial passwords: the file drop and the signed webhook, built from config."""

from __future__ import annotations

import hashlib
import hmac

import httpx
import orjson
import pytest
from pydantic import SecretStr

from pipeline.actions import (
    Credential,
    DeliveryFailed,
    FileDropChannel,
    WebhookChannel,
    build_channel,
)
from pipeline.actions.config import FileDropChannelConfig, WebhookChannelConfig

DOMAIN = "corp.example.com"
NEW = f"new.hire@{DOMAIN}"


async def test_file_channel_refuses_a_world_readable_directory(tmp_path, file_channel):
    file_channel.directory.mkdir(mode=0o755)
    file_channel.directory.chmod(0o755)
    credential = Credential("corp", NEW, "E1", "a" * 32, SecretStr("Secret123abc"))
    with pytest.raises(DeliveryFailed, match="readable by others") as failed:
        await file_channel.deliver(credential)
    assert "Secret123abc" not in str(failed.value) and "Secret123abc" not in repr(credential)


async def test_webhook_channel_signs_and_retries_without_leaking():
    secret = "webhook-secret-0123456789"
    received: list[httpx.Request] = []
    answers = [503, 200]

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(answers.pop(0))

    async def no_sleep(_: float) -> None:
        return None

    channel = WebhookChannel(
        "https://vault.example.com/hook", secret, transport=httpx.MockTransport(handler), sleep=no_sleep
    )
    credential = Credential("corp", NEW, "E1", "a" * 32, SecretStr("Secret123abc"))
    assert await channel.deliver(credential) == "HTTP 200"
    assert len(received) == 2
    last = received[-1]
    ts = last.headers["X-Exmail-Timestamp"]
    expected = (
        "sha256=" + hmac.new(secret.encode(), ts.encode() + b"." + last.content, hashlib.sha256).hexdigest()
    )
    assert last.headers["X-Exmail-Signature"] == expected
    body = orjson.loads(last.content)
    assert body["password"] == "Secret123abc" and body["userid"] == NEW
    assert secret not in repr(channel)

    failing = WebhookChannel(
        "https://vault.example.com/hook",
        secret,
        sleep=no_sleep,
        transport=httpx.MockTransport(lambda r: httpx.Response(500)),
    )
    with pytest.raises(DeliveryFailed) as failed:
        await failing.deliver(credential)
    assert "HTTP 500" in str(failed.value) and "Secret123abc" not in str(failed.value)

    refusals: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        refusals.append(1)
        return httpx.Response(400)

    refusing = WebhookChannel(
        "https://vault.example.com/hook", secret, sleep=no_sleep, transport=httpx.MockTransport(refuse)
    )
    with pytest.raises(DeliveryFailed):
        await refusing.deliver(credential)
    assert len(refusals) == 1, "a 4xx is not retried"


def test_build_channel_from_config(tmp_path):

    assert build_channel(None) is None
    assert isinstance(build_channel(FileDropChannelConfig(dir=str(tmp_path))), FileDropChannel)
    webhook = build_channel(
        WebhookChannelConfig(url="https://vault.example.com/h", secret="env:HOOK_SECRET"),
        resolve={"env:HOOK_SECRET": "resolved-secret-value"}.__getitem__,
    )
    assert isinstance(webhook, WebhookChannel) and "resolved-secret-value" not in repr(webhook)
