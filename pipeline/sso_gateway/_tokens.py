"""Login state and cookies: signed short-lived state, an encrypted per-browser login transaction, the session.

A login starts with a random transaction id. The `state` sent through the IdP (or the LDAP form) is that id
and an expiry, HMAC-signed; the transaction itself (nonce, PKCE verifier, requested mailbox) travels in an
encrypted cookie bound to the browser that started it. The callback accepts a state only if its signature
holds, it has not expired, it names the transaction in this browser's cookie (login CSRF), and it was never
used before (replay: used ids are remembered until they expire). Cookies are Fernet tokens (AES-CBC +
HMAC-SHA256 with a timestamp, from `cryptography`), so the client can neither read nor alter them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipeline.secrets import b64url, unb64url

MIN_SECRET_CHARS = 32


class StateError(ValueError):
    """Why a state or cookie was refused: `reason` is forged_state, expired, state_mismatch or replayed."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _derive(secret: bytes, label: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"exmail-sso-gateway/1", info=label).derive(secret)


def code_challenge(verifier: str) -> str:
    """The S256 PKCE challenge of a verifier (RFC 7636 §4.2)."""
    return b64url(hashlib.sha256(verifier.encode()).digest())


@dataclass(frozen=True, slots=True)
class Transaction:
    """One started login: what the callback needs and must match."""

    id: str
    method: str
    box: str | None
    nonce: str
    code_verifier: str
    expires_at: int

    def to_json(self) -> bytes:
        return orjson.dumps({"i": self.id, "m": self.method, "b": self.box, "n": self.nonce,
                             "v": self.code_verifier, "e": self.expires_at})

    @classmethod
    def from_json(cls, raw: bytes) -> Transaction:
        obj = orjson.loads(raw)
        return cls(str(obj["i"]), str(obj["m"]), obj["b"] if obj["b"] is None else str(obj["b"]), str(obj["n"]),
                   str(obj["v"]), int(obj["e"]))


@dataclass(frozen=True, slots=True)
class Session:
    """A completed login, reused for further mailboxes until it expires."""

    method: str
    subject: str
    login: str
    mailbox: str | None
    groups: tuple[str, ...]
    expires_at: int


class TokenKit:
    """Signs states, seals cookies and remembers used states. One per gateway (per process)."""

    def __init__(self, secret: str, *, state_ttl: int, session_ttl: int,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < MIN_SECRET_CHARS:
            raise ValueError(f"the SSO gateway secret must be at least {MIN_SECRET_CHARS} characters")
        raw = secret.encode()
        self._state_key = _derive(raw, b"state")
        self._tx = Fernet(base64.urlsafe_b64encode(_derive(raw, b"transaction")))
        self._session = Fernet(base64.urlsafe_b64encode(_derive(raw, b"session")))
        self.state_ttl = state_ttl
        self.session_ttl = session_ttl
        self._clock = clock
        self._used: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"TokenKit(state_ttl={self.state_ttl}, session_ttl={self.session_ttl}, used={len(self._used)})"

    # ------------------------------------------------------------ login transactions

    def begin(self, method: str, box: str | None) -> tuple[Transaction, str, str]:
        """A new transaction, its signed state, and the sealed cookie value that carries it."""
        # the PKCE verifier: 43 unreserved characters from 32 random bytes (RFC 7636 §4.1)
        tx = Transaction(id=secrets.token_urlsafe(18), method=method, box=box, nonce=secrets.token_urlsafe(18),
                         code_verifier=secrets.token_urlsafe(32), expires_at=int(self._clock()) + self.state_ttl)
        return tx, self._sign_state(tx), self._tx.encrypt_at_time(tx.to_json(), int(self._clock())).decode()

    def _sign_state(self, tx: Transaction) -> str:
        payload = orjson.dumps({"i": tx.id, "m": tx.method, "e": tx.expires_at})
        return f"{b64url(payload)}.{b64url(hmac.new(self._state_key, payload, hashlib.sha256).digest())}"

    def finish(self, state: str, cookie: str | None, method: str) -> Transaction:
        """The transaction `state` names, if everything holds; it can never be finished again."""
        try:
            body, sig = state.split(".", 1)
            payload = unb64url(body)
            good = hmac.compare_digest(unb64url(sig), hmac.new(self._state_key, payload, hashlib.sha256).digest())
        except (ValueError, TypeError):
            good = False
        if not good:
            raise StateError("forged_state", "the login state was not issued by this gateway")
        try:
            claim: dict[str, Any] = orjson.loads(payload)
            tx_id, expires_at, claimed_method = str(claim["i"]), int(claim["e"]), str(claim["m"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise StateError("forged_state", "the login state is malformed") from exc
        now = int(self._clock())
        if expires_at < now:
            raise StateError("expired", "the login took too long; start again")
        if claimed_method != method:
            raise StateError("forged_state", "the login state belongs to another login method")
        self._used = {k: e for k, e in self._used.items() if e >= now}
        if tx_id in self._used:
            raise StateError("replayed", "this login response was already used")
        tx = self._open_transaction(cookie)
        if tx is None or not hmac.compare_digest(tx.id, tx_id):
            raise StateError("state_mismatch", "this login was not started in this browser")
        self._used[tx_id] = expires_at
        return tx

    def _open_transaction(self, cookie: str | None) -> Transaction | None:
        if not cookie:
            return None
        try:
            raw = self._tx.decrypt_at_time(cookie.encode(), self.state_ttl, int(self._clock()))
            return Transaction.from_json(raw)
        except (InvalidToken, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None

    # ------------------------------------------------------------ sessions

    def seal_session(self, session: Session) -> str:
        body = orjson.dumps({"m": session.method, "s": session.subject, "l": session.login, "b": session.mailbox,
                             "g": list(session.groups), "e": session.expires_at})
        return self._session.encrypt_at_time(body, int(self._clock())).decode()

    def open_session(self, cookie: str | None) -> Session | None:
        """The session in `cookie`, or None when absent, altered or expired."""
        if not cookie or self.session_ttl <= 0:
            return None
        try:
            obj = orjson.loads(self._session.decrypt_at_time(cookie.encode(), self.session_ttl, int(self._clock())))
            session = Session(str(obj["m"]), str(obj["s"]), str(obj["l"]), obj["b"] if obj["b"] is None
                              else str(obj["b"]), tuple(str(g) for g in obj["g"]), int(obj["e"]))
        except (InvalidToken, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        return session if session.expires_at >= int(self._clock()) else None

    def session_expiry(self) -> int:
        return int(self._clock()) + self.session_ttl
