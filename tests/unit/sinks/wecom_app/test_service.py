"""The WeCom app service: the access-token cache (single flight, targeted invalidation, shared failure), then
gettoken and send."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx

from pipeline.clock import ManualClock
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.wecom_app import WeComAppConfig, WeComAppSink
from pipeline.sinks.wecom_app.service import AccessTokenCache

Make = Callable[..., Notification]


async def test_token_cache_single_flight_and_targeted_invalidation() -> None:
    clock = ManualClock()
    calls = 0

    async def fetch() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        return f"tok{calls}", 7200.0

    cache = AccessTokenCache(fetch, clock, refresh_margin=300)
    assert set(await asyncio.gather(*(cache.get() for _ in range(20)))) == {"tok1"}
    assert calls == 1
    cache.invalidate("some-older-token")
    assert await cache.get() == "tok1"
    cache.invalidate("tok1")
    assert await cache.get() == "tok2"
    clock.advance(7200 - 300)  # refreshed ahead of expiry
    assert await cache.get() == "tok3"
    assert "tok" not in repr(cache)


async def test_token_cache_shares_a_failure() -> None:
    calls = 0

    async def fetch() -> tuple[str, float]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise RuntimeError("down")

    cache = AccessTokenCache(fetch, ManualClock())
    results = await asyncio.gather(*(cache.get() for _ in range(5)), return_exceptions=True)
    assert calls == 1 and all(isinstance(r, RuntimeError) for r in results)


async def test_app_gettoken_then_send(make: Make, capture: Any) -> None:
    def answer(r: httpx.Request) -> dict[str, Any]:
        if r.url.path.endswith("gettoken"):
            return {"errcode": 0, "errmsg": "ok", "access_token": "TOKEN123", "expires_in": 7200}
        return {"errcode": 0, "errmsg": "ok", "invaliduser": "user0", "msgid": "m1"}

    cap = capture(answer)
    sink = WeComAppSink(WeComAppConfig(name="app", corp_id="ww1", agent_id=7, secret="APPSECRET",
                                       base_url="https://wecom.test"), client=cap.client(), clock=ManualClock())
    outcome = await sink.deliver(make())
    assert outcome.status == "delivered" and outcome.invalid_recipients == ("user0",)
    get, send = cap.requests
    assert parse_qs(get.url.query.decode()) == {"corpid": ["ww1"], "corpsecret": ["APPSECRET"]}
    assert parse_qs(send.url.query.decode()) == {"access_token": ["TOKEN123"]}
    await sink.aclose()
