"""Callback endpoint: URL verification, valid pushes, and every rejection reason (4xx + metric, no record)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline import metrics
from pipeline.envelope import fingerprint
from pipeline.exmail.crypto import MailEvent, UnReadEvent, WXBizMsgCrypt, generate_aes_key
from pipeline.sources._intake import IntakeGate
from pipeline.sources.callback import CallbackEndpoint

TOKEN = "callbacktoken123"
AES = generate_aes_key(bytes(range(32)))
TOPIC = "t.exmail.raw.new_mail"
PATH = "/exmail/callback/acme"


@pytest.fixture
async def client(env: Any) -> AsyncIterator[TestClient[Any, Any]]:
    crypt = WXBizMsgCrypt(TOKEN, AES, env.corp.corp_id)
    gate = IntakeGate(env.rt.emitter, dedup_window_seconds=900)
    endpoint = CallbackEndpoint(corp_id=env.corp.corp_id, crypt=crypt, gate=gate, topic=TOPIC,
                                replay_window_seconds=300, max_body_bytes=4096)
    app = web.Application()
    app.add_routes(endpoint.routes(PATH))
    async with TestClient(TestServer(app)) as c:
        yield c


def rejections(reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value("exmail_callback_rejections_total", {"reason": reason})
    return value or 0.0


def mail_event(corp: str, n: int = 3) -> MailEvent:
    return MailEvent(corp_id=corp, mail_id=f"bWFpbC0{n}=", to_user_id="cs@acme.com",
                     from_user='"bob@partner.com"<bob@partner.com>', title="Order", time=int(time.time()),
                     new_count=n)


def push(corp: str, xml: str, *, timestamp: int | None = None, token: str = TOKEN) -> tuple[dict[str, str], str]:
    crypt = WXBizMsgCrypt(token, AES, corp)
    msg = crypt.encrypt(xml, timestamp=timestamp if timestamp is not None else int(time.time()))
    params = {"msg_signature": msg.signature, "timestamp": msg.timestamp, "nonce": msg.nonce}
    return params, crypt.push_body(msg)


async def test_url_verification_echoes_plaintext(env: Any, client: TestClient[Any, Any]) -> None:
    crypt = WXBizMsgCrypt(TOKEN, AES, env.corp.corp_id)
    msg = crypt.encrypt("echo-1234", timestamp=int(time.time()))
    resp = await client.get(PATH, params={"msg_signature": msg.signature, "timestamp": msg.timestamp,
                                          "nonce": msg.nonce, "echostr": msg.encrypt})
    assert resp.status == 200 and await resp.text() == "echo-1234"
    resp = await client.get(PATH, params={"msg_signature": "0" * 40, "timestamp": msg.timestamp,
                                          "nonce": msg.nonce, "echostr": msg.encrypt})
    assert resp.status == 403


async def test_valid_mail_and_unread_pushes(env: Any, client: TestClient[Any, Any], validate: Any) -> None:
    corp = env.corp.corp_id
    event = mail_event(corp)
    params, body = push(corp, event.to_xml())
    resp = await client.post(PATH, params=params, data=body)
    assert resp.status == 200 and await resp.text() == "success"
    again = await client.post(PATH, params=params, data=body)  # a retried push: 200, no second record
    assert again.status == 200
    unread = UnReadEvent(corp_id=corp, user_id="cs@acme.com", time=int(time.time()), unread_count=2)
    params, body = push(corp, unread.to_xml())
    assert (await client.post(PATH, params=params, data=body)).status == 200
    values = env.broker.values(TOPIC)
    assert len(values) == 2
    for v in values:
        validate(v)
    m, u = values
    assert m["id"] == fingerprint("new_mail", corp, "Mail", event.mail_id)
    assert m["data"]["correlation_key"] == fingerprint("new_mail", corp, "cs@acme.com", 3)
    assert m["data"]["from"] == event.from_user and m["data"]["new_count"] == 3 and m["data"]["via"] == "callback"
    assert u["id"] == fingerprint("new_mail", corp, "UnRead", "cs@acme.com", unread.time, 2)
    assert u["data"]["unread_count"] == 2 and u["data"]["correlation_key"] is None


@pytest.mark.parametrize("case", ["bad_signature", "stale_timestamp", "wrong_corp_id", "malformed_xml",
                                  "body_too_large", "missing_parameters", "bad_timestamp", "inner_corp_id",
                                  "undecryptable"])
async def test_rejections(env: Any, client: TestClient[Any, Any], case: str) -> None:
    corp = env.corp.corp_id
    params, body = push(corp, mail_event(corp).to_xml())
    reason, status = case, 400
    if case == "bad_signature":
        params["msg_signature"] = "f" * 40
        status = 403
    elif case == "stale_timestamp":
        params, body = push(corp, mail_event(corp).to_xml(), timestamp=int(time.time()) - 3600)
        status = 403
    elif case == "wrong_corp_id":  # encrypted for another corp: the trailing CorpID does not match
        params, body = push("wwotherotherother1", mail_event("wwotherotherother1").to_xml())
        status = 403
    elif case == "inner_corp_id":  # right envelope, but the XML names another corp
        params, body = push(corp, mail_event("wwotherotherother1").to_xml())
        reason, status = "wrong_corp_id", 403
    elif case == "malformed_xml":
        body = "<xml><Encrypt>abc</Encrypt"
    elif case == "body_too_large":
        body = "<xml><Encrypt><![CDATA[" + "A" * 5000 + "]]></Encrypt></xml>"
        status = 413
    elif case == "missing_parameters":
        del params["nonce"]
    elif case == "bad_timestamp":
        params["timestamp"] = "yesterday"
    elif case == "undecryptable":
        crypt = WXBizMsgCrypt(TOKEN, AES, corp)
        bogus = "QUJD" * 8  # valid base64, not a ciphertext of ours
        params["msg_signature"] = crypt.sign(params["timestamp"], params["nonce"], bogus)
        body = f"<xml><Encrypt><![CDATA[{bogus}]]></Encrypt></xml>"
    before = rejections(reason)
    resp = await client.post(PATH, params=params, data=body)
    assert resp.status == status
    assert (await resp.text()).startswith(reason)
    assert rejections(reason) == before + 1
    assert env.broker.values(TOPIC) == []


async def test_secrets_stay_out_of_logs_and_reprs(env: Any, client: TestClient[Any, Any],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    params, body = push(env.corp.corp_id, mail_event(env.corp.corp_id).to_xml())
    await client.post(PATH, params={**params, "msg_signature": "0" * 40}, data=body)
    await client.post(PATH, params=params, data=body)
    crypt = WXBizMsgCrypt(TOKEN, AES, env.corp.corp_id)
    gate = IntakeGate(env.rt.emitter, dedup_window_seconds=900)
    endpoint = CallbackEndpoint(corp_id=env.corp.corp_id, crypt=crypt, gate=gate, topic=TOPIC)
    text = caplog.text + repr(endpoint) + repr(crypt) + repr(env.rt.emitter)
    assert TOKEN not in text and AES not in text


async def test_delivery_failure_answers_503(env: Any, client: TestClient[Any, Any]) -> None:
    env.broker.fail = lambda topic, _v: topic == TOPIC
    params, body = push(env.corp.corp_id, mail_event(env.corp.corp_id).to_xml())
    assert (await client.post(PATH, params=params, data=body)).status == 503
    env.broker.fail = lambda _t, _v: False
    assert (await client.post(PATH, params=params, data=body)).status == 200  # the retry goes through
    assert len(env.broker.values(TOPIC)) == 1


async def test_callback_retry_with_new_signature_is_stored_once(env: Any, client: TestClient[Any, Any]) -> None:
    xml = mail_event(env.corp.corp_id).to_xml()
    env.broker.fail = lambda topic, _v: topic == TOPIC
    params, body = push(env.corp.corp_id, xml)
    resp = await client.post(PATH, params=params, data=body)
    assert resp.status == 503 and resp.headers["Retry-After"].isdigit()
    assert env.broker.values(TOPIC) == []
    env.broker.fail = lambda _t, _v: False
    for _ in range(4):  # each retry is a new encryption: new timestamp/nonce/signature, same record id
        params, body = push(env.corp.corp_id, xml)
        assert (await client.post(PATH, params=params, data=body)).status == 200
    assert len(env.broker.values(TOPIC)) == 1
