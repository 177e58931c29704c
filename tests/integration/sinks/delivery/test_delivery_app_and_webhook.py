"""WeCom application sink and webhook/OA sink against the simulators over TCP."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import jsonschema
import orjson
import pytest

from pipeline.sinks.delivery.notification import AlertItem, Notification, SsoLink
from pipeline.sinks.webhook import WebhookSink
from pipeline.sinks.webhook.encoder import SCHEMA_PATH
from pipeline.sinks.wecom_app import WeComAppSink

pytestmark = pytest.mark.integration

Sims = Any


def notification(key: str = "a-1", recipients: tuple[str, ...] = ("alice@corp.example",)) -> Notification:
    return Notification(
        receiver="ops", group_key="g:NewLoginIp", idempotency_key=key, corp_id="corp1", recipients=recipients,
        alerts=(AlertItem(labels={"alertname": "NewLoginIp", "userid": "alice@corp.example", "ip": "203.0.113.9"},
                          severity="high", summary="alice 从新 IP 登录"),),
        sso_links=(SsoLink("登录邮箱", "https://sso.example/r?t=one-time"),))


async def test_app_gets_a_token_and_delivers(sims: Sims) -> None:
    async with WeComAppSink(sims.app_config(to_users=["boss@corp.example"]), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
        assert sink.service.tokens.fetches == 1
        assert (await sink.deliver(notification("a-2"))).status == "delivered"
        assert sink.service.tokens.fetches == 1  # cached
    assert outcome.status == "delivered"
    first = sims.recorder(sims.wecom).accepted("app", "1000002")[0]
    assert first.recipients == ("boss", "alice")
    assert first.body["enable_duplicate_check"] == 1 and first.body["msgtype"] == "markdown"


@pytest.mark.parametrize(("fault", "errcode"), [("revoke_tokens", 40014), ("expire_tokens", 42001)])
async def test_app_refreshes_the_token_and_delivers(sims: Sims, fault: str, errcode: int) -> None:
    async with WeComAppSink(sims.app_config(), clock=sims.clock) as sink:
        assert (await sink.deliver(notification("before"))).status == "delivered"
        sims.fault(sims.wecom, kind=fault)
        outcome = await sink.deliver(notification("after"))
        assert (outcome.status, outcome.token_refreshes, outcome.attempts) == ("delivered", 1, 2)
        assert sink.service.tokens.fetches == 2
    rejected = sims.recorder(sims.wecom).rejected("app")
    assert [r.errcode for r in rejected] == [errcode]


async def test_app_token_expiry_by_time_is_refreshed_ahead(sims: Sims) -> None:
    async with WeComAppSink(sims.app_config(), clock=sims.clock) as sink:
        await sink.deliver(notification("t1"))
        sims.clock.advance(7200 - 299)
        outcome = await sink.deliver(notification("t2"))
        assert outcome.status == "delivered" and outcome.token_refreshes == 0
        assert sink.service.tokens.fetches == 2
    assert sims.recorder(sims.wecom).rejected("app") == []


async def test_app_duplicate_check_hides_a_resend(sims: Sims) -> None:
    async with WeComAppSink(sims.app_config(duplicate_check_interval=1800), clock=sims.clock) as sink:
        first = await sink.deliver(notification("same"))
        sims.clock.advance(60)
        again = await sink.deliver(notification("same"))  # e.g. redelivered after a worker restart
    assert first.status == again.status == "delivered"
    recorder = sims.recorder(sims.wecom)
    assert len(recorder.accepted("app")) == 1 and len(recorder.deduplicated("app")) == 1


async def test_app_paces_each_member_under_thirty_per_minute(sims: Sims) -> None:
    async with WeComAppSink(sims.app_config(), clock=sims.clock) as sink:
        outcomes = [await sink.deliver(notification(f"m-{i}")) for i in range(70)]
    recorder = sims.recorder(sims.wecom)
    assert all(o.status == "delivered" for o in outcomes)
    assert recorder.dropped("app") == []  # nothing silently lost
    assert len(recorder.accepted("app")) == 70


async def test_app_81013_when_no_recipient_is_valid(sims: Sims) -> None:
    async with WeComAppSink(sims.app_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification(recipients=("ghost@corp.example",)))
    assert (outcome.status, outcome.errcode, outcome.operator_alert) == ("dead_lettered", 81013, True)


async def test_app_partly_invalid_recipients_are_reported(sims: Sims) -> None:
    async with WeComAppSink(sims.app_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification(recipients=("alice@corp.example", "ghost@corp.example")))
    assert outcome.status == "delivered" and outcome.invalid_recipients == ("ghost",)


async def test_app_bad_secret_dead_letters(sims: Sims) -> None:
    async with WeComAppSink(sims.app_config(secret="not-the-secret"), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.errcode) == ("dead_lettered", 40001)
    assert "not-the-secret" not in repr(outcome)


async def test_webhook_signature_is_verified_by_the_receiver(sims: Sims, secrets: dict[str, str]) -> None:
    async with WebhookSink(sims.webhook_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert outcome.status == "delivered"
    [entry] = sims.recorder(sims.receiver).accepted("webhook", "oa/alerts")
    jsonschema.validate(entry.body, json.loads(SCHEMA_PATH.read_text()))
    assert entry.body["idempotency_key"] == "a-1" and entry.headers["X-Exmail-Idempotency-Key"] == "a-1"
    # the receiver's check, redone here from the documented scheme
    ts = entry.headers["X-Exmail-Timestamp"]
    assert ts == str(int(sims.clock.time()))
    mac = hmac.new(secrets["oa_secret"].encode(), ts.encode() + b"." + orjson.dumps(entry.body), hashlib.sha256)
    assert entry.headers["X-Exmail-Signature"] == f"sha256={mac.hexdigest()}"


async def test_webhook_with_the_wrong_secret_is_dead_lettered(sims: Sims) -> None:
    async with WebhookSink(sims.webhook_config(secret="wrong-secret"), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.http_status, outcome.reason) == ("dead_lettered", 401, "http_401")
    assert sims.recorder(sims.receiver).rejected("webhook")[0].detail == "bad signature"


async def test_webhook_5xx_is_retried(sims: Sims) -> None:
    sims.fault(sims.receiver, kind="http_status", endpoint="webhook", status=503, count=2)
    async with WebhookSink(sims.webhook_config(), clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.attempts) == ("delivered", 3)
    assert len(sims.recorder(sims.receiver).accepted("webhook")) == 1


async def test_webhook_gives_up_after_the_retry_budget(sims: Sims) -> None:
    sims.fault(sims.receiver, kind="http_status", endpoint="webhook", status=500, count=100)
    config = sims.webhook_config(retry={"max_attempts": 3})
    async with WebhookSink(config, clock=sims.clock) as sink:
        outcome = await sink.deliver(notification())
    assert (outcome.status, outcome.attempts, outcome.reason, outcome.operator_alert) == (
        "failed", 3, "http_500", True)
