"""Simulated WeCom application API: gettoken, message/send, recipients, limits, duplicate check."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import pytest

from pipeline.clock import ManualClock

Mounted = Any


async def token(sim: Mounted, secret: str = "app-secret") -> str:
    status, body = await sim.call("GET", "cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": secret})
    assert status == 200 and body["errcode"] == 0
    return str(body["access_token"])


async def send(sim: Mounted, body: dict[str, Any], access_token: str | None) -> dict[str, Any]:
    params = {"access_token": access_token} if access_token is not None else {}
    status, answer = await sim.call("POST", "cgi-bin/message/send", body, params=params)
    assert status == 200
    return dict(answer)


def text_to(touser: str = "alice", content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"touser": touser, "msgtype": "text", "agentid": 1000002, "text": {"content": content}, **extra}


async def test_gettoken_errors_and_reuse(wecom: Mounted, clock: ManualClock) -> None:
    _, body = await wecom.call("GET", "cgi-bin/gettoken", params={"corpid": "nope", "corpsecret": "app-secret"})
    assert body["errcode"] == 40013
    _, body = await wecom.call("GET", "cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "wrong"})
    assert body["errcode"] == 40001
    _, first = await wecom.call("GET", "cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "app-secret"})
    assert first["expires_in"] == 7200 and len(first["access_token"]) >= 32
    clock.advance(100)
    _, again = await wecom.call("GET", "cgi-bin/gettoken", params={"corpid": "wwcorp", "corpsecret": "app-secret"})
    assert again["access_token"] == first["access_token"] and again["expires_in"] == 7100
    other = await token(wecom, "s3")
    assert other != first["access_token"]  # one token per app
    clock.advance(7100)
    assert await token(wecom) != first["access_token"]


async def test_token_errors(wecom: Mounted, clock: ManualClock) -> None:
    assert (await send(wecom, text_to(), None))["errcode"] == 41001
    assert (await send(wecom, text_to(), "bogus"))["errcode"] == 40014
    tok = await token(wecom)
    clock.advance(7200)
    assert (await send(wecom, text_to(), tok))["errcode"] == 42001


@pytest.mark.parametrize(("body", "errcode"), [
    (text_to(agentid=1000003), 40056),
    ({**text_to(), "msgtype": "sms"}, 40008),
    (text_to(content=""), 44004),
    (text_to(touser="|".join(f"u{i}" for i in range(1001))), 40058),
    (text_to(toparty="|".join(str(i) for i in range(101))), 40058),
    (text_to(totag="|".join(str(i) for i in range(101))), 40058),
    ({"touser": "alice", "msgtype": "markdown", "agentid": 1000002, "markdown": {"content": "m" * 2049}}, 40058),
    ({"touser": "alice", "msgtype": "textcard", "agentid": 1000002, "textcard": {"title": "t"}}, 40058),
    (text_to(touser="nobody|ghost"), 81013),
])
async def test_send_validation(wecom: Mounted, body: dict[str, Any], errcode: int) -> None:
    answer = await send(wecom, body, await token(wecom))
    assert answer["errcode"] == errcode
    assert wecom.recorder.rejected("app")[-1].errcode == errcode


async def test_partly_invalid_recipients_still_receive(wecom: Mounted) -> None:
    answer = await send(wecom, text_to("alice|ghost", toparty="2|99", totag="7|8"), await token(wecom))
    assert answer["errcode"] == 0 and answer["msgid"]
    assert (answer["invaliduser"], answer["invalidparty"], answer["invalidtag"]) == ("ghost", "99", "8")
    assert wecom.recorder.accepted("app")[-1].recipients == ("alice", "carol", "bob")


async def test_at_all_reaches_everyone(wecom: Mounted) -> None:
    await send(wecom, text_to("@all"), await token(wecom))
    assert set(wecom.recorder.accepted("app")[-1].recipients) == {"alice", "bob", "carol"}


async def test_duplicate_check(wecom: Mounted, clock: ManualClock) -> None:
    tok = await token(wecom)
    body = text_to(enable_duplicate_check=1, duplicate_check_interval=600)
    first, second = await send(wecom, body, tok), await send(wecom, body, tok)
    assert first["errcode"] == second["errcode"] == 0 and first["msgid"] == second["msgid"]
    assert len(wecom.recorder.accepted("app")) == 1 and len(wecom.recorder.deduplicated("app")) == 1
    await send(wecom, {**body, "text": {"content": "other"}}, tok)
    assert len(wecom.recorder.accepted("app")) == 2
    clock.advance(600)
    await send(wecom, body, tok)
    assert len(wecom.recorder.accepted("app")) == 3
    plain = text_to(content="no check")
    await send(wecom, plain, tok)
    await send(wecom, plain, tok)
    assert len(wecom.recorder.accepted("app")) == 5


async def test_per_member_limit_drops_silently(wecom: Mounted, clock: ManualClock) -> None:
    tok = await token(wecom)
    answers = [await send(wecom, text_to("alice|bob" if i == 30 else "alice", content=f"m{i}"), tok)
               for i in range(31)]
    assert all(a["errcode"] == 0 for a in answers)
    dropped = wecom.recorder.dropped("app")
    assert [d.recipients for d in dropped] == [("alice",)]
    assert wecom.recorder.accepted("app")[-1].recipients == ("bob",)
    clock.advance(60)
    await send(wecom, text_to(content="next minute"), tok)
    assert wecom.recorder.accepted("app")[-1].recipients == ("alice",)
    for i in range(20):  # hourly limit is 40 in this sim
        clock.advance(2.5)
        await send(wecom, text_to(content=f"h{i}"), tok)
    assert len([e for e in wecom.recorder.accepted("app") if "alice" in e.recipients]) == 40
    assert len(wecom.recorder.dropped("app")) == 1 + 11  # the 31st in minute one, then 51 - 40 in the hour


async def test_text_over_2048_bytes_is_truncated_at_a_character_boundary(wecom: Mounted) -> None:
    """Doc 90236: text content "最长不超过2048个字节，超过将截断"; 683 x 3-byte characters = 2049 bytes."""
    answer = await send(wecom, text_to(content="长" * 683), await token(wecom))
    assert answer["errcode"] == 0 and answer["msgid"]
    delivered = wecom.recorder.accepted("app")[-1]
    assert delivered.body["text"]["content"] == "长" * 682  # 2046 bytes: the 683rd character does not fit
    assert "truncated" in delivered.detail


WeComWith = Callable[..., AbstractAsyncContextManager[Mounted]]


async def test_text_overflow_reject_is_a_switchable_choice(wecom_with: WeComWith) -> None:
    async with wecom_with(app_text_overflow="reject") as wecom:
        answer = await send(wecom, text_to(content="长" * 683), await token(wecom))
        assert answer["errcode"] == 40058


async def test_limits_of_1000_users_and_100_parties_accepted(wecom: Mounted) -> None:
    body = text_to(touser="|".join(["alice"] + [f"u{i}" for i in range(999)]),
                   toparty="|".join(["1"] + [str(i) for i in range(100, 199)]))
    answer = await send(wecom, body, await token(wecom))
    assert answer["errcode"] == 0
    assert set(wecom.recorder.accepted("app")[-1].recipients) == {"alice", "bob"}


async def test_per_member_daily_cap_drops_silently(wecom_with: WeComWith, clock: ManualClock) -> None:
    async with wecom_with(member_per_day=3) as wecom:
        tok = await token(wecom)
        for i in range(4):
            clock.advance(120)
            assert (await send(wecom, text_to(content=f"d{i}"), tok))["errcode"] == 0
        assert [d.recipients for d in wecom.recorder.dropped("app")] == [("alice",)]
        clock.advance(86400)
        await send(wecom, text_to(content="next day"), await token(wecom))
        assert wecom.recorder.accepted("app")[-1].recipients == ("alice",)


async def test_per_app_daily_cap_is_seats_times_200(wecom_with: WeComWith) -> None:
    async with wecom_with(account_seats=1, app_per_seat_per_day=2) as wecom:  # 2 person-messages a day
        tok = await token(wecom)
        await send(wecom, text_to("alice|bob|carol", content="x"), tok)
        assert wecom.recorder.accepted("app")[-1].recipients == ("alice", "bob")
        assert wecom.recorder.dropped("app")[-1].recipients == ("carol",)
