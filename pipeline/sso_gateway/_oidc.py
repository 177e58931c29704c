"""The OpenID Connect relying party: discovery, the authorization URL, the code exchange, ID token checks.

The ID token is checked as OpenID Connect Core §3.1.3.7 asks: signature with a key from the provider's JWKS
(refetched once when a new `kid` appears, for key rotation), an asymmetric algorithm we allow, `iss` equal to
the configured issuer, `aud` containing our client id (and `azp` equal to it when there are several
audiences), `exp`/`iat` present and `exp` in the future, and `nonce` equal to the one this browser's login
transaction holds. Claims missing from the ID token (many providers put e-mail and groups only in UserInfo)
are read from the UserInfo endpoint, whose `sub` must match the ID token's.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from jwt import PyJWKSet

from pipeline.sso_gateway._errors import LoginRefused
from pipeline.sso_gateway._tokens import Transaction, code_challenge
from pipeline.sso_gateway.config import OidcSettings

_JWKS_REFRESH_MIN_SECONDS = 30.0  # at most one refetch per 30 s for unknown key ids


class OidcClient:
    """One provider, one client registration. HTTP through an httpx client the gateway owns."""

    def __init__(self, settings: OidcSettings, client_secret: str, redirect_uri: str, http: httpx.AsyncClient,
                 *, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self._http = http
        self._clock = clock
        self._meta: dict[str, Any] | None = None
        self._jwks: PyJWKSet | None = None
        self._jwks_at = 0.0

    def __repr__(self) -> str:
        return f"OidcClient(issuer={self.settings.issuer!r}, client_id={self.settings.client_id!r})"

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            resp = await self._http.get(url, timeout=self.settings.timeout_seconds)
            resp.raise_for_status()
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LoginRefused("idp_unavailable", f"{what} could not be read: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise LoginRefused("idp_unavailable", f"{what} is not a JSON object")
        return body

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (cached); its issuer must be exactly the configured one."""
        if self._meta is None:
            issuer = self.settings.issuer.rstrip("/")
            meta = await self._get_json(f"{issuer}/.well-known/openid-configuration", "the provider's discovery")
            if meta.get("issuer") not in (self.settings.issuer, issuer):
                raise LoginRefused("idp_unavailable", "the provider's discovery names another issuer")
            for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(meta.get(key), str):
                    raise LoginRefused("idp_unavailable", f"the provider's discovery has no {key}")
            self._meta = meta
        return self._meta

    async def authorization_url(self, tx: Transaction, state: str) -> str:
        meta = await self.metadata()
        query = urlencode({
            "response_type": "code", "client_id": self.settings.client_id, "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.settings.scopes), "state": state, "nonce": tx.nonce,
            "code_challenge": code_challenge(tx.code_verifier), "code_challenge_method": "S256",
        })
        endpoint = str(meta["authorization_endpoint"])
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange(self, code: str, tx: Transaction) -> dict[str, Any]:
        """Trade the code for tokens (client_secret_basic, with the PKCE verifier); returns the verified
        ID token claims merged with UserInfo claims the ID token lacks."""
        meta = await self.metadata()
        try:
            resp = await self._http.post(
                str(meta["token_endpoint"]),
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                      "code_verifier": tx.code_verifier},
                auth=httpx.BasicAuth(self.settings.client_id, self._secret),
                headers={"Accept": "application/json"}, timeout=self.settings.timeout_seconds,
            )
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LoginRefused("idp_unavailable", f"the token endpoint did not answer: {type(exc).__name__}") from None
        if resp.status_code != 200 or not isinstance(body, dict) or "error" in body:
            error = body.get("error") if isinstance(body, dict) else None
            raise LoginRefused("code_rejected",
                               f"the provider refused the authorization code ({error or resp.status_code})")
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise LoginRefused("bad_id_token", "the provider returned no ID token")
        claims = await self.verify_id_token(id_token, tx.nonce)
        wanted = (self.settings.mailbox_claim, self.settings.groups_claim)
        access = body.get("access_token")
        if any(c not in claims for c in wanted) and isinstance(access, str) and meta.get("userinfo_endpoint"):
            info = await self._userinfo(str(meta["userinfo_endpoint"]), access)
            if info.get("sub") != claims["sub"]:
                raise LoginRefused("bad_id_token", "UserInfo describes another subject than the ID token")
            claims = {**{k: v for k, v in info.items() if k in wanted or k == "email_verified"}, **claims}
        return claims

    async def _userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        try:
            resp = await self._http.get(url, headers={"Authorization": f"Bearer {access_token}"},
                                        timeout=self.settings.timeout_seconds)
            resp.raise_for_status()
            body = resp.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise LoginRefused("idp_unavailable", f"UserInfo could not be read: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise LoginRefused("idp_unavailable", "UserInfo is not a JSON object")
        return body

    async def _key_for(self, kid: str | None) -> Any:
        meta = await self.metadata()
        for attempt in range(2):
            if self._jwks is None or (attempt and self._clock() - self._jwks_at >= _JWKS_REFRESH_MIN_SECONDS):
                raw = await self._get_json(str(meta["jwks_uri"]), "the provider's JWKS")
                try:
                    self._jwks = PyJWKSet.from_dict(raw)
                except jwt.PyJWTError as exc:
                    raise LoginRefused("idp_unavailable", f"the provider's JWKS is unusable: {exc}") from None
                self._jwks_at = self._clock()
            signing = [k for k in self._jwks.keys if k.public_key_use in (None, "sig")]
            matches = [k for k in signing if k.key_id == kid] if kid else signing
            if len(matches) == 1:
                return matches[0]
        raise LoginRefused("bad_id_token", "the ID token is signed with a key the provider does not publish")

    async def verify_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        s = self.settings
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise LoginRefused("bad_id_token", "the ID token is not a JWT") from None
        alg = header.get("alg")
        if alg not in s.algorithms:
            raise LoginRefused("bad_id_token", f"the ID token's algorithm {alg!r} is not allowed")
        key = await self._key_for(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=[alg], audience=s.client_id, issuer=s.issuer, leeway=s.leeway_seconds,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError:
            raise LoginRefused("bad_id_token", "the ID token has expired") from None
        except jwt.InvalidAudienceError:
            raise LoginRefused("bad_id_token", "the ID token was issued to another client") from None
        except jwt.InvalidIssuerError:
            raise LoginRefused("bad_id_token", "the ID token was issued by another provider") from None
        except jwt.PyJWTError as exc:
            raise LoginRefused("bad_id_token", f"the ID token is invalid: {exc}") from None
        aud = claims["aud"]
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != s.client_id:
            raise LoginRefused("bad_id_token", "the ID token has several audiences and another azp")
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise LoginRefused("bad_id_token", "the ID token's nonce does not belong to this login")
        return claims
