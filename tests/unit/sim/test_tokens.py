"""Conformance table for gettoken, per-app tokens, token expiry, rate limits and method/endpoint handling."""

from __future__ import annotations

from typing import Any

from pipeline.sim import Choices, SimulatorHandle
from pipeline.sim._errors import ApiError
from pipeline.sim._tokens import RateLimiter, TokenStore


async def gettoken(exmail: Any, corpid: str, secret: str) -> dict[str, Any]:
    return (await exmail.http.get("gettoken", params={"corpid": corpid, "corpsecret": secret})).json()


async def test_gettoken_returns_token_and_expires_in_7200(exmail: Any) -> None:
    body = await gettoken(exmail, exmail.creds["corp_id"], exmail.creds["secrets"]["system_log"])
    assert body["errcode"] == 0 and body["errmsg"] == "ok" and body["expires_in"] == 7200
    assert len(body["access_token"]) >= 64


async def test_gettoken_bad_secret_returns_40001_invalid_credential(exmail: Any) -> None:
    body = await gettoken(exmail, exmail.creds["corp_id"], "wrong")
    assert body == {"errcode": 40001, "errmsg": "invalid credential"}


async def test_gettoken_wrong_corpid_returns_40013(exmail: Any, sim: SimulatorHandle) -> None:
    body = await gettoken(exmail, "ww0000000000000000", exmail.creds["secrets"]["contact"])
    assert body == {"errcode": 40013, "errmsg": "invalid corpid"}
    await sim.admin.set_choices(wrong_corpid_errcode=40001)
    body = await gettoken(exmail, "ww0000000000000000", exmail.creds["secrets"]["contact"])
    assert body["errcode"] == 40001


async def test_gettoken_disabled_app_returns_40091(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.set_choices(disabled_apps=["system_log"])
    body = await gettoken(exmail, exmail.creds["corp_id"], exmail.creds["secrets"]["system_log"])
    assert body == {"errcode": 40091, "errmsg": "invalid secret"}
    assert (await gettoken(exmail, exmail.creds["corp_id"], exmail.creds["secrets"]["contact"]))["errcode"] == 0


async def test_gettoken_post_is_accepted_too(exmail: Any) -> None:
    resp = await exmail.http.post("gettoken", params={"corpid": exmail.creds["corp_id"],
                                                      "corpsecret": exmail.creds["secrets"]["contact"]})
    assert resp.json()["errcode"] == 0


async def test_missing_token_returns_40014(exmail: Any) -> None:
    resp = await exmail.http.get("user/get", params={"userid": "admin@corp.example.com"})
    assert resp.json()["errcode"] == 40014


async def test_unknown_token_returns_40014(exmail: Any) -> None:
    body = await exmail.call("contact", "user/get", {"userid": "admin@corp.example.com"}, method="GET",
                             token="x" * 86)
    assert body == {"errcode": 40014, "errmsg": "invalid access_token"}


async def test_each_app_token_works_only_for_its_endpoints_602005(exmail: Any) -> None:
    pairs = {"contact": "user/get", "function_setting": "useroption/get", "mail_notice": "mail/newcount",
             "system_log": "log/login", "unique_login": "service/get_login_url"}
    body = {"userid": "admin@corp.example.com", "begin_date": "2026-01-05", "end_date": "2026-01-05"}
    for app, endpoint in pairs.items():
        assert (await exmail.call(app, endpoint, body))["errcode"] == 0, endpoint
        for other in pairs:
            if other != app:
                r = await exmail.call(other, endpoint, body)
                assert r["errcode"] == 602005, (other, endpoint)


async def test_expired_token_returns_40014_by_default(exmail: Any, sim: SimulatorHandle) -> None:
    token = await exmail.token("contact")
    assert await sim.admin.expire_tokens() >= 1
    r = await exmail.call("contact", "user/get", {"userid": "admin@corp.example.com"}, method="GET", token=token)
    assert r["errcode"] == 40014
    exmail.tokens.clear()
    r = await exmail.call("contact", "user/get", {"userid": "admin@corp.example.com"}, method="GET")
    assert r["errcode"] == 0


async def test_expired_token_code_configurable_to_42001(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.set_choices(expired_token_errcode=42001)
    token = await exmail.token("system_log")
    await sim.admin.expire_tokens(app="system_log")
    r = await exmail.call("system_log", "log/batchjob", {"begin_date": "2026-01-05", "end_date": "2026-01-05"},
                          token=token)
    assert r == {"errcode": 42001, "errmsg": "access_token expired"}


async def test_revoked_tokens_become_unknown_40014(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.set_choices(expired_token_errcode=42001)
    token = await exmail.token("contact")
    await sim.admin.expire_tokens(mode="revoke")
    r = await exmail.call("contact", "tag/list", method="GET", token=token)
    assert r["errcode"] == 40014


def test_token_expires_after_expires_in_on_the_real_clock() -> None:
    now = [1000.0]
    store = TokenStore("wwcorp", {"contact": "s"}, 7200, Choices(), monotonic=lambda: now[0])
    token, expires_in = store.issue("wwcorp", "s")
    assert expires_in == 7200
    store.check(token, "contact")
    now[0] += 7199
    store.check(token, "contact")
    now[0] += 1
    try:
        store.check(token, "contact")
    except ApiError as exc:
        assert exc.errcode == 40014
    else:
        raise AssertionError("expired token accepted")


def test_token_reissue_modes() -> None:
    assert Choices().token_reissue == "same"  # WeCom documents one token per app while it is valid
    keep = TokenStore("c", {"contact": "s"}, 7200, Choices(token_reissue="new_keeps_old"))
    a, _ = keep.issue("c", "s")
    b, _ = keep.issue("c", "s")
    assert a != b
    keep.check(a, "contact")
    same = TokenStore("c", {"contact": "s"}, 7200, Choices(token_reissue="same"))
    assert same.issue("c", "s")[0] == same.issue("c", "s")[0]
    revoke = TokenStore("c", {"contact": "s"}, 7200, Choices(token_reissue="new_revokes_old"))
    old, _ = revoke.issue("c", "s")
    revoke.issue("c", "s")
    try:
        revoke.check(old, "contact")
    except ApiError as exc:
        assert exc.errcode == 40014
    else:
        raise AssertionError("revoked token accepted")


def test_token_store_repr_hides_secrets_and_tokens() -> None:
    store = TokenStore("c", {"contact": "topsecret"}, 7200, Choices())
    token, _ = store.issue("c", "topsecret")
    assert "topsecret" not in repr(store) and token not in repr(store)


def test_rate_limiter_returns_45009_over_qps() -> None:
    now = [0.0]
    limiter = RateLimiter(2, monotonic=lambda: now[0])
    limiter.check("system_log")
    limiter.check("system_log")
    try:
        limiter.check("system_log")
    except ApiError as exc:
        assert exc.errcode == 45009
    else:
        raise AssertionError("limit not enforced")
    limiter.check("contact")
    now[0] = 1.5
    limiter.check("system_log")


async def test_app_qps_over_limit_returns_45009(exmail: Any, sim: SimulatorHandle) -> None:
    await exmail.token("contact")
    await sim.admin.set_choices(app_qps=1)
    sim.sim.limiter._monotonic = lambda: 500.0
    assert (await exmail.call("contact", "tag/list", method="GET"))["errcode"] == 0
    r = await exmail.call("contact", "tag/list", method="GET")
    assert r == {"errcode": 45009, "errmsg": "api freq out of limit"}


async def test_wrong_method_accepted_by_default(exmail: Any) -> None:
    r = await exmail.call("contact", "user/get", {"userid": "admin@corp.example.com"}, method="POST")
    assert r["errcode"] == 0
    r = await exmail.call("contact", "department/create", {"name": "viaGET", "parentid": 1}, method="GET")
    assert r["errcode"] == 0


async def test_wrong_method_http_405_and_errcode_choices(exmail: Any, sim: SimulatorHandle) -> None:
    token = await exmail.token("contact")
    await sim.admin.set_choices(wrong_method="http_405")
    resp = await exmail.http.post("user/get", params={"access_token": token, "userid": "admin@corp.example.com"})
    assert resp.status_code == 405
    await sim.admin.set_choices(wrong_method="errcode")
    resp = await exmail.http.post("user/get", params={"access_token": token, "userid": "admin@corp.example.com"})
    assert resp.status_code == 200 and resp.json()["errcode"] == -1
    resp = await exmail.http.get("mail/newcount", params={"access_token": await exmail.token("mail_notice"),
                                                          "userid": "admin@corp.example.com"})
    assert resp.json()["errcode"] == 0


async def test_unknown_endpoint_returns_http_404(exmail: Any) -> None:
    resp = await exmail.http.post("mail/send", params={"access_token": await exmail.token("contact")})
    assert resp.status_code == 404 and resp.json()["errcode"] == -1
