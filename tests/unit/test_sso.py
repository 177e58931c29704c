"""Signed SSO links: valid once, refused when tampered, expired or replayed, with a page that says why."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.sso import MemoryNonceStore, SsoLinkError, SsoLinkSigner, add_sso_routes

SECRET = "0123456789abcdef-sso-secret"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_link_round_trip_names_corp_and_user() -> None:
    signer = SsoLinkSigner(SECRET, "https://pipeline.example/sso", ttl_seconds=600)
    token = signer.token("wm1", "alice@example.com")
    claim = signer.verify(token)
    assert (claim.corp_id, claim.userid) == ("wm1", "alice@example.com")
    assert signer.link("wm1", "a@x.com").startswith("https://pipeline.example/sso?t=")


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "bad_signature"),
    (lambda t: "x" + t, "bad_signature"),
    (lambda t: "no-dot-here", "malformed"),
    (lambda t: "", "malformed"),
])
def test_tampered_or_malformed_links_are_refused(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    signer = SsoLinkSigner(SECRET, "https://p/sso")
    with pytest.raises(SsoLinkError) as exc:
        signer.verify(mutate(signer.token("wm1", "a@x.com")))
    assert exc.value.reason == reason


def test_expired_links_are_refused_and_verifying_consumes_nothing() -> None:
    clock = Clock()
    signer = SsoLinkSigner(SECRET, "https://p/sso", ttl_seconds=60, clock=clock)
    token = signer.token("wm1", "a@x.com")
    assert signer.verify(token) == signer.verify(token)  # stateless: the nonce store decides "used"
    clock.now += 61
    with pytest.raises(SsoLinkError) as expired:
        signer.verify(token)
    assert expired.value.reason == "expired"
    assert signer.verify(token, allow_expired=True).userid == "a@x.com"


def test_a_short_secret_is_refused_and_repr_holds_no_secret() -> None:
    with pytest.raises(ValueError, match="16"):
        SsoLinkSigner("short", "https://p/sso")
    assert SECRET not in repr(SsoLinkSigner(SECRET, "https://p/sso"))


async def test_a_preview_get_consumes_nothing_and_one_click_redirects_once() -> None:
    signer = SsoLinkSigner(SECRET, "http://x/sso")
    calls: list[tuple[str, str]] = []
    nonces = MemoryNonceStore()

    async def fetch(corp: str, user: str) -> str | None:
        calls.append((corp, user))
        return None if corp == "unknown" else f"https://exmail.example/login?user={user}&authkey=K"

    app = web.Application()
    add_sso_routes(app, signer, fetch, nonces)
    async with TestClient(TestServer(app)) as client:
        token = signer.token("wm1", "a@x.com")
        for _ in range(2):  # the chat app's preview, then the person opening it
            page = await client.get("/sso", params={"t": token}, allow_redirects=False)
            text = await page.text()
            assert page.status == 200 and "a@x.com" in text and "method='post'" in text
            assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
        assert calls == [], "a GET never asks Exmail for a login URL"
        ok = await client.post("/sso", data={"t": token}, allow_redirects=False)
        assert ok.status == 303 and ok.headers["Location"].startswith("https://exmail.example/login?user=a@x.com")
        again = await client.post("/sso", data={"t": token}, allow_redirects=False)
        assert again.status == 410 and "already used" in await again.text()
        shown = await client.get("/sso", params={"t": token}, allow_redirects=False)
        assert shown.status == 410
        bad = await client.post("/sso", data={"t": token + "x"}, allow_redirects=False)
        assert bad.status == 403
        assert (await client.post("/sso", data={}, allow_redirects=False)).status == 400
        unknown = await client.post("/sso", data={"t": signer.token("unknown", "b@x.com")}, allow_redirects=False)
        assert unknown.status == 404
    assert calls == [("wm1", "a@x.com"), ("unknown", "b@x.com")]
