"""New-mail callback push: received by a local aiohttp receiver and decrypted with pipeline.exmail.crypto;
retries with backoff, bounded attempts, URL verification, mailbox scoping and the ground-truth record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from pipeline.envelope import fingerprint
from pipeline.exmail.crypto import CallbackCryptoError, MailEvent, UnReadEvent, WXBizMsgCrypt, parse_event
from pipeline.sim import SimConfig, SimulatorHandle, run_simulator

DOMAIN = "corp.example.com"


@dataclass
class Receiver:
    crypt: WXBizMsgCrypt
    statuses: list[int] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    verifications: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        q = request.query
        if request.method == "GET":
            try:
                plain = self.crypt.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
            except CallbackCryptoError:
                return web.Response(status=403)
            self.verifications += 1
            return web.Response(text=plain)
        body = await request.text()
        self.bodies.append(body)
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            xml = self.crypt.decrypt_message(q["msg_signature"], q["timestamp"], q["nonce"], body)
            self.events.append(parse_event(xml))
        return web.Response(status=status, text="ok")


@pytest.fixture
async def callback_sim() -> AsyncIterator[tuple[SimulatorHandle, Receiver]]:
    config = SimConfig(users=30, seed=4, speed=0, start="2026-01-05T10:00:00+08:00", mount_surfaces=False,
                       traffic={"enabled": False})
    async with run_simulator(config) as handle:
        creds = handle.credentials
        receiver = Receiver(WXBizMsgCrypt(creds["callback_token"], creds["callback_aes_key"], creds["corp_id"]))
        app = web.Application()
        app.router.add_route("*", "/exmail/callback", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/exmail/callback"
        try:
            yield handle, receiver
        finally:
            await runner.cleanup()


async def test_callback_mail_push_received_and_decrypted(callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, receiver = callback_sim
    assert (await handle.admin.register_callback(receiver.url, verify=True))["errcode"] == 0
    assert receiver.verifications == 1
    sent = await handle.admin.deliver_mail(f"admin@{DOMAIN}", subject="Quarterly report", **{"from": "bob@p.com"})
    pushes = await handle.admin.pushes()
    assert [p["outcome"] for p in pushes] == ["delivered"]
    event = receiver.events[0]
    assert isinstance(event, MailEvent)
    corp = handle.credentials["corp_id"]
    assert (event.corp_id, event.to_user_id, event.title, event.new_count) == (corp, f"admin@{DOMAIN}",
                                                                                "Quarterly report", 1)
    assert event.mail_id == sent["mail_id"] and event.from_user == '"bob@p.com"<bob@p.com>'
    assert "<ToUserName>" not in receiver.bodies[0]
    truth = (await handle.admin.truth("new_mail"))[0]
    assert truth["id"] == fingerprint("new_mail", corp, "Mail", event.mail_id) == pushes[0]["id"]
    assert truth["correlation_key"] == fingerprint("new_mail", corp, f"admin@{DOMAIN}", 1)
    assert truth["pushed"] is True


async def test_callback_unread_push_after_read(callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, receiver = callback_sim
    await handle.admin.register_callback(receiver.url)
    await handle.admin.deliver_mail(f"admin@{DOMAIN}")
    await handle.admin.deliver_mail(f"admin@{DOMAIN}")
    await handle.admin.advance(60)
    await handle.admin.read_mail(f"admin@{DOMAIN}")
    await handle.admin.pushes()
    kinds = [(type(e).__name__, getattr(e, "new_count", None), getattr(e, "unread_count", None))
             for e in receiver.events]
    assert kinds[:2] == [("MailEvent", 1, None), ("MailEvent", 2, None)]
    assert ("UnReadEvent", None, 0) in kinds[2:]
    unread = [e for e in receiver.events if isinstance(e, UnReadEvent)]
    assert unread[-1].user_id == f"admin@{DOMAIN}"


async def test_callback_retries_with_backoff_then_delivers(callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, receiver = callback_sim
    receiver.statuses = [500, 503]
    await handle.admin.register_callback(receiver.url, backoff_initial=0.01, max_attempts=5)
    await handle.admin.deliver_mail(f"admin@{DOMAIN}")
    push = (await handle.admin.pushes())[0]
    assert push["outcome"] == "delivered"
    assert [a["status"] for a in push["attempts"]] == [500, 503, 200]
    assert len(receiver.events) == 1


async def test_callback_gives_up_after_max_attempts(callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, _ = callback_sim
    await handle.admin.register_callback("http://127.0.0.1:9/unreachable", backoff_initial=0.01, max_attempts=3,
                                         timeout=1)
    await handle.admin.deliver_mail(f"admin@{DOMAIN}")
    push = (await handle.admin.pushes())[0]
    assert push["outcome"] == "failed"
    assert len(push["attempts"]) == 3 and all(a["status"] is None and a["error"] for a in push["attempts"])


async def test_callback_url_verification_failure_returns_40057(
        callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, receiver = callback_sim
    r = await handle.admin.register_callback(receiver.url, verify=True, token="someone-elses-token")
    assert r["errcode"] == 40057 and r["verification"]["ok"] is False
    assert (await handle.admin.verify_callback())["ok"] is False  # nothing registered
    await handle.admin.register_callback(receiver.url)
    assert (await handle.admin.verify_callback())["ok"] is True


async def test_callback_only_for_registered_mailboxes(callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, receiver = callback_sim
    await handle.admin.register_callback(receiver.url, mailboxes=[f"service@{DOMAIN}"])
    await handle.admin.deliver_mail(f"admin@{DOMAIN}")
    await handle.admin.deliver_mail(f"service@{DOMAIN}")
    pushes = await handle.admin.pushes()
    assert [p["userid"] for p in pushes] == [f"service@{DOMAIN}"]
    truth = await handle.admin.truth("new_mail")
    assert [t["pushed"] for t in truth] == [False, True]


async def test_callback_extra_fields_are_tolerated(callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, receiver = callback_sim
    await handle.admin.register_callback(receiver.url, extra_fields=True)
    await handle.admin.deliver_mail(f"admin@{DOMAIN}")
    await handle.admin.pushes()
    assert "<ToUserName>" in receiver.bodies[0] and "<AgentID>" in receiver.bodies[0]
    assert len(receiver.events) == 1


async def test_callback_pushes_from_generated_traffic(callback_sim: tuple[SimulatorHandle, Receiver]) -> None:
    handle, receiver = callback_sim
    await handle.admin.register_callback(receiver.url)
    handle.sim.generator.traffic = handle.sim.generator.traffic.model_copy(
        update={"enabled": True, "mails_per_user_per_day": 40})
    await handle.admin.advance(2 * 3600)
    pushes = await handle.admin.pushes()
    assert pushes and all(p["outcome"] == "delivered" for p in pushes)
    assert len(receiver.events) == len(pushes)
    truth_ids = {t["id"] for t in await handle.admin.truth("new_mail") if t["pushed"]}
    assert truth_ids == {p["id"] for p in pushes}
