"""mail/newcount (new-mail reminder app) through the client against the simulator's mailboxes, and the
callback push (decrypted with pipeline.exmail.crypto) agreeing with the polled count."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import web

from pipeline.exmail import ExmailClient, NotFound, ValidationError
from pipeline.exmail.crypto import CallbackEvent, MailEvent, UnReadEvent, WXBizMsgCrypt, parse_event
from pipeline.exmail.models import NewCount
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

DOMAIN = "corp.example.com"
USER = f"it.ops@{DOMAIN}"
TODAY = "2026-01-05"
YESTERDAY = "2026-01-04"
T0 = 1767578400  # 2026-01-05T10:00:00+08:00, the simulator's frozen clock


def unread(sim: SimulatorHandle, userid: str) -> int:
    """The simulator's own unread count of `userid` now."""
    return sim.sim.corp.mailboxes.unread(userid, sim.sim.clock.now())


async def test_mail_newcount_counts_unread_then_read(client: ExmailClient, sim: SimulatorHandle) -> None:
    initial = await client.mail_newcount(USER)
    assert isinstance(initial, NewCount) and initial.count == 0
    first = await sim.admin.deliver_mail(USER, subject="一", push=False)
    for subject in ("二", "三"):
        await sim.admin.deliver_mail(USER, subject=subject, push=False)
    assert (await client.mail_newcount(USER)).count == 3 == unread(sim, USER)
    await sim.admin.read_mail(USER, first["mail_id"])
    assert (await client.mail_newcount(USER)).count == 2 == unread(sim, USER)


async def test_mail_newcount_date_window(client: ExmailClient, sim: SimulatorHandle) -> None:
    await sim.admin.deliver_mail(USER, time=T0 - 86400, push=False)
    await sim.admin.deliver_mail(USER, time=T0 - 60, push=False)
    assert (await client.mail_newcount(USER)).count == 2
    assert (await client.mail_newcount(USER, TODAY, TODAY)).count == 1
    assert (await client.mail_newcount(USER, YESTERDAY, YESTERDAY)).count == 1
    assert (await client.mail_newcount(USER, YESTERDAY, TODAY)).count == 2


async def test_mail_newcount_without_dates_today_choice(client: ExmailClient, sim: SimulatorHandle) -> None:
    await sim.admin.deliver_mail(USER, time=T0 - 86400, push=False)
    await sim.admin.deliver_mail(USER, time=T0 - 60, push=False)
    await sim.admin.set_choices(newcount_without_dates="today")
    assert (await client.mail_newcount(USER)).count == 1


async def test_mail_newcount_unknown_user_60111(client: ExmailClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.mail_newcount(f"ghost@{DOMAIN}")
    assert caught.value.errcode == 60111


async def test_mail_newcount_span_over_limit_601002(client: ExmailClient) -> None:
    """newcount is one query (not chunked): a window longer than the server's limit is refused."""
    with pytest.raises(ValidationError) as caught:
        await client.mail_newcount(USER, "2025-06-01", TODAY)
    assert caught.value.errcode == 601002


async def test_mail_newcount_invalid_dates_601001(client: ExmailClient, calls: Callable[[str], int]) -> None:
    with pytest.raises(ValueError):
        await client.mail_newcount(USER, "2026-02-30", TODAY)
    with pytest.raises(ValueError):
        await client.mail_newcount(USER, TODAY)
    assert calls("mail/newcount") == 0
    with pytest.raises(ValidationError) as caught:
        await client._call(
            "mail/newcount", params={"userid": USER, "begin_date": "2026-02-30", "end_date": TODAY}
        )
    assert caught.value.errcode == 601001


@pytest.fixture
async def pushed(sim: SimulatorHandle) -> AsyncIterator[list[CallbackEvent]]:
    """Registers a local receiver (verified URL) as the simulator's callback; yields the decrypted events."""
    creds = sim.credentials
    crypt = WXBizMsgCrypt(creds["callback_token"], creds["callback_aes_key"], creds["corp_id"])
    events: list[CallbackEvent] = []

    async def receive(request: web.Request) -> web.Response:
        q = request.query
        if request.method == "GET":
            return web.Response(
                text=crypt.verify_url(q["msg_signature"], q["timestamp"], q["nonce"], q["echostr"])
            )
        xml = crypt.decrypt_message(q["msg_signature"], q["timestamp"], q["nonce"], await request.text())
        events.append(parse_event(xml))
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/callback", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
    try:
        assert (await sim.admin.register_callback(url, verify=True))["errcode"] == 0
        yield events
    finally:
        await runner.cleanup()


async def test_mail_newcount_equals_callback_push_counts(
    client: ExmailClient, sim: SimulatorHandle, pushed: list[CallbackEvent]
) -> None:
    for subject in ("一", "二"):
        await sim.admin.deliver_mail(USER, subject=subject)
    await sim.admin.pushes()
    mails = [e for e in pushed if isinstance(e, MailEvent)]
    assert [(e.to_user_id, e.new_count) for e in mails] == [(USER, 1), (USER, 2)]
    assert (await client.mail_newcount(USER)).count == mails[-1].new_count
    await sim.admin.read_mail(USER)
    await sim.admin.pushes()
    unread = [e for e in pushed if isinstance(e, UnReadEvent)]
    assert unread and unread[-1].user_id == USER
    assert (await client.mail_newcount(USER)).count == unread[-1].unread_count == 0
