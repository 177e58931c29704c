"""Who is calling: bearer tokens (constant-time compare against every configured token), client certificates,
or nobody; and a per-address limit on failed attempts so tokens cannot be guessed at line rate."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web

from pipeline.auth._access import Role
from pipeline.auth._session import SESSION_COOKIE, SessionCodec
from pipeline.auth.config import AuthConfig
from pipeline.clock import SYSTEM_CLOCK, Clock
from pipeline.ratelimit import TokenBucket
from pipeline.secrets import resolve_secret

MIN_TOKEN_CHARS = 24
_MAX_TRACKED = 10_000


class AuthFailure(Exception):
    """A credential was presented and is not valid; `reason` is label-safe and never holds the credential."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. `name` is what audit records show; `method` is bearer, mtls or insecure."""

    name: str
    roles: frozenset[Role]
    method: str

    def has(self, role: Role) -> bool:
        return Role.ADMIN in self.roles or role in self.roles or role is Role.VIEWER

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "roles": sorted(r.value for r in self.roles), "method": self.method}


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Authenticator:
    """Resolves the configured credentials once (a missing secret fails at start-up, naming the reference)."""

    def __init__(self, config: AuthConfig, *, extra_tokens: Iterable[tuple[str, frozenset[Role], str]] = (),
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.config = config
        self._tokens: list[tuple[bytes, Principal]] = []
        for cred in config.tokens:
            value = resolve_secret(cred.token)
            if len(value) < MIN_TOKEN_CHARS:
                raise ValueError(f"the token of {cred.name!r} is shorter than {MIN_TOKEN_CHARS} characters; generate "
                                 "one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'")
            self._add(cred.name, frozenset(cred.roles), value)
        for name, roles, value in extra_tokens:  # sse.token, actions.api_token: their sections' own rules
            self._add(name, roles, value)
        self._certs = {cn: frozenset(roles) for cn, roles in (config.mtls.clients if config.mtls else {}).items()}
        self.sessions = SessionCodec(value for value, _ in self._tokens)
        self._by_digest = {self.sessions.digest(value): principal for value, principal in self._tokens}
        self._clock = clock
        self._failures: dict[str, TokenBucket] = {}

    def _add(self, name: str, roles: frozenset[Role], value: str) -> None:
        self._tokens.append((value.encode(), Principal(name, roles, "bearer")))

    def __repr__(self) -> str:
        return f"Authenticator(tokens={len(self._tokens)}, certs={len(self._certs)})"

    @property
    def configured(self) -> bool:
        return bool(self._tokens) or bool(self._certs)

    @property
    def insecure(self) -> bool:
        return self.config.insecure_anonymous_admin_on_loopback and not self.configured

    def authenticate(self, request: web.Request, *, query_token: bool = False) -> Principal | None:
        """The caller's principal, None when no credential was presented; AuthFailure for a bad one. A bearer
        header (or query token) wins over a session cookie; an expired or revoked session counts as none."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        given = ""
        if scheme:
            if scheme.lower() != "bearer" or not value.strip():
                raise AuthFailure("invalid")
            given = value.strip()
        elif query_token and request.query.get("access_token"):
            given = request.query["access_token"]
        if given:
            return self._bearer(given)
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            session = self.sessions.open(cookie)
            found = self._by_digest.get(session.token_digest) if session is not None else None
            if found is not None:
                return found
        cert = self._cert_principal(request)
        if cert is not None:
            return cert
        if self.insecure:
            return Principal("anonymous-insecure", frozenset({Role.ADMIN}), "insecure")
        return None

    def login(self, token: str) -> tuple[Principal, str]:
        """A pasted token -> (its principal, a session cookie value); AuthFailure when it is not valid."""
        principal = self._bearer(token.strip())
        return principal, self.sessions.issue(token.strip().encode())

    def via_session(self, request: web.Request) -> bool:
        """Whether this request's principal comes from a valid session cookie (no bearer header presented)."""
        cookie = request.cookies.get(SESSION_COOKIE)
        if "Authorization" in request.headers or not cookie:
            return False
        session = self.sessions.open(cookie)
        return session is not None and session.token_digest in self._by_digest

    def _bearer(self, given: str) -> Principal:
        raw = given.encode()
        found: Principal | None = None
        for value, principal in self._tokens:  # compare with every token: timing says nothing about which
            if hmac.compare_digest(raw, value) and found is None:
                found = principal
        if found is None:
            raise AuthFailure("invalid")
        return found

    def _cert_principal(self, request: web.Request) -> Principal | None:
        if not self._certs or request.transport is None:
            return None
        cert = request.transport.get_extra_info("peercert")
        if not cert:
            return None
        cn = next((v for rdn in cert.get("subject", ()) for k, v in rdn if k == "commonName"), None)
        if cn is None or cn not in self._certs:
            raise AuthFailure("unknown_certificate")
        return Principal(f"cert:{cn}", self._certs[cn], "mtls")

    # --- failed-attempt limit, per client address

    def blocked(self, remote: str) -> bool:
        bucket = self._failures.get(remote)
        return bucket is not None and bucket.delay_for(1) > 0

    def failed(self, remote: str) -> None:
        bucket = self._failures.get(remote)
        if bucket is None:
            if len(self._failures) >= _MAX_TRACKED:
                self._failures = {k: b for k, b in self._failures.items() if not b.full}
            cfg = self.config
            bucket = TokenBucket(rate=cfg.max_failures / cfg.failure_window_seconds, burst=cfg.max_failures,
                                 clock=self._clock)
            self._failures[remote] = bucket
        if bucket.delay_for(1) <= 0:
            bucket.take(1)

    def retry_after(self, remote: str) -> int:
        bucket = self._failures.get(remote)
        return 1 if bucket is None else max(1, int(bucket.delay_for(1)) + 1)
