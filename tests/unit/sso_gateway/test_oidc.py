"""ID token checks of the relying party against a provider faked with httpx.MockTransport (the real provider
runs in tests/integration/sso_gateway): signature from the JWKS, allowed algorithms, iss, aud/azp, exp, nonce,
key rotation, and UserInfo claims only for the same subject."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from pipeline.sso_gateway import LoginRefused, OidcSettings
from pipeline.sso_gateway._oidc import OidcClient
from pipeline.sso_gateway._tokens import Transaction

ISSUER = "https://idp.example.com"
CLIENT = "exmail-gateway"
NONCE = "n-0S6_WzA2Mj"


class FakeProvider:
    def __init__(self) -> None:
        self.keys = {"k1": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
        self.jwks_fetches = 0
        self.userinfo: dict[str, Any] = {}
        self.id_claims: dict[str, Any] = {}

    def jwks(self) -> dict[str, Any]:
        out = []
        for kid, key in self.keys.items():
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}

    def token(self, kid: str = "k1", **over: Any) -> str:
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": "u-1", "aud": CLIENT, "iat": now, "exp": now + 300, "nonce": NONCE,
                  **self.id_claims, **over}
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, self.keys[kid], algorithm="RS256", headers={"kid": kid})

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/.well-known/openid-configuration":
            return httpx.Response(200, json={"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/auth",
                                             "token_endpoint": f"{ISSUER}/token", "jwks_uri": f"{ISSUER}/jwks",
                                             "userinfo_endpoint": f"{ISSUER}/me"})
        if path == "/jwks":
            self.jwks_fetches += 1
            return httpx.Response(200, json=self.jwks())
        if path == "/token":
            body = dict(httpx.QueryParams(request.content.decode()))
            assert body["code_verifier"] == "verifier" and request.headers["authorization"].startswith("Basic ")
            if body["code"] != "good":
                return httpx.Response(400, json={"error": "invalid_grant"})
            return httpx.Response(200, json={"id_token": self.token(), "access_token": "at", "token_type": "Bearer"})
        if path == "/me":
            assert request.headers["authorization"] == "Bearer at"
            return httpx.Response(200, json=self.userinfo)
        return httpx.Response(404)


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def client(provider: FakeProvider, clock: Clock) -> Any:
    settings = OidcSettings(issuer=ISSUER, client_id=CLIENT, client_secret="env:X")
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider.handler)) as http:
        yield OidcClient(settings, "client-secret-value-of-32-characters",
                         "https://gw.example.com/sso/oidc/callback", http, clock=clock)


async def refused(client: OidcClient, token: str, nonce: str = NONCE) -> str:
    with pytest.raises(LoginRefused) as exc:
        await client.verify_id_token(token, nonce)
    assert exc.value.reason == "bad_id_token"
    return exc.value.detail


async def test_valid_id_token(client: OidcClient, provider: FakeProvider) -> None:
    claims = await client.verify_id_token(provider.token(), NONCE)
    assert claims["sub"] == "u-1"


async def test_each_claim_is_checked(client: OidcClient, provider: FakeProvider) -> None:
    assert "another client" in await refused(client, provider.token(aud="someone-else"))
    assert "another provider" in await refused(client, provider.token(iss="https://evil.example.com"))
    assert "expired" in await refused(client, provider.token(exp=int(time.time()) - 3600))
    assert "nonce" in await refused(client, provider.token(), nonce="other-login")
    assert "nonce" in await refused(client, provider.token(nonce=None))
    assert "azp" in await refused(client, provider.token(aud=[CLIENT, "api"]))
    assert (await client.verify_id_token(provider.token(aud=[CLIENT, "api"], azp=CLIENT), NONCE))["sub"] == "u-1"
    assert "exp" in await refused(client, provider.token(exp=None))


async def test_signatures_and_algorithms(client: OidcClient, provider: FakeProvider) -> None:
    good = provider.token()
    head, body, sig = good.split(".")
    tampered = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    assert "Signature verification failed" in await refused(client, f"{head}.{body}.{tampered}")
    claims = jwt.decode(good, options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    assert "'none'" in await refused(client, unsigned)
    # the classic confusion: HS256 keyed with the client secret (or the public key) is never accepted
    hs = jwt.encode(claims, "client-secret-value-of-32-characters", algorithm="HS256", headers={"kid": "k1"})
    assert "'HS256'" in await refused(client, hs)
    assert "not a JWT" in await refused(client, "garbage")


async def test_key_rotation_refetches_the_jwks_at_most_every_30s(client: OidcClient, provider: FakeProvider,
                                                                  clock: Clock) -> None:
    await client.verify_id_token(provider.token(), NONCE)
    provider.keys["k2"] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert "does not publish" in await refused(client, provider.token(kid="k2"))  # just fetched: no refetch
    assert provider.jwks_fetches == 1
    clock.now += 31
    assert (await client.verify_id_token(provider.token(kid="k2"), NONCE))["sub"] == "u-1"
    assert provider.jwks_fetches == 2
    stranger = FakeProvider()
    stranger.keys = {"k9": stranger.keys["k1"]}
    clock.now += 31
    assert "does not publish" in await refused(client, stranger.token(kid="k9"))
    assert provider.jwks_fetches == 3


async def test_exchange_reads_userinfo_for_the_same_subject(client: OidcClient, provider: FakeProvider) -> None:
    tx = Transaction("id", "oidc", None, NONCE, "verifier", int(time.time()) + 300)
    provider.userinfo = {"sub": "u-1", "email": "alice@example.com", "groups": ["cs"], "name": "not copied"}
    claims = await client.exchange("good", tx)
    assert (claims["email"], claims["groups"]) == ("alice@example.com", ["cs"]) and "name" not in claims
    provider.userinfo = {"sub": "someone-else", "email": "boss@example.com", "groups": ["admins"]}
    with pytest.raises(LoginRefused) as exc:
        await client.exchange("good", tx)
    assert exc.value.reason == "bad_id_token"
    provider.id_claims = {"email": "alice@example.com", "groups": ["cs"]}  # in the ID token: no UserInfo call
    assert (await client.exchange("good", tx))["email"] == "alice@example.com"
    with pytest.raises(LoginRefused) as exc:
        await client.exchange("reused", tx)
    assert exc.value.reason == "code_rejected" and "invalid_grant" in exc.value.detail


async def test_authorization_url_carries_pkce_state_and_nonce(client: OidcClient) -> None:
    tx = Transaction("id", "oidc", None, NONCE, "verifier", int(time.time()) + 300)
    url = httpx.URL(await client.authorization_url(tx, "signed.state"))
    q = dict(url.params)
    assert url.path == "/auth" and q["response_type"] == "code" and q["client_id"] == CLIENT
    assert (q["state"], q["nonce"], q["code_challenge_method"]) == ("signed.state", NONCE, "S256")
    assert q["code_challenge"] != "verifier" and "openid" in q["scope"].split()
