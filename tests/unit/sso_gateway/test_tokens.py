"""State and cookies: a state works once, only in the browser that started it, only before it expires, and only
if this gateway signed it; sessions cannot be read, altered or used after their expiry."""

from __future__ import annotations

import pytest

from pipeline.sso_gateway._tokens import Session, StateError, TokenKit, code_challenge

SECRET = "k" * 40


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def kit(clock: Clock, secret: str = SECRET) -> TokenKit:
    return TokenKit(secret, state_ttl=300, session_ttl=900, clock=clock)


def reason(exc: pytest.ExceptionInfo[StateError]) -> str:
    return exc.value.reason


def test_state_finishes_once_in_the_starting_browser() -> None:
    clock = Clock()
    k = kit(clock)
    tx, state, cookie = k.begin("oidc", "service@example.com")
    assert k.finish(state, cookie, "oidc") == tx
    with pytest.raises(StateError) as exc:
        k.finish(state, cookie, "oidc")
    assert reason(exc) == "replayed"


def test_forged_and_foreign_states_are_refused() -> None:
    clock = Clock()
    k, other = kit(clock), kit(clock, "o" * 40)
    _, state, cookie = k.begin("oidc", None)
    _, foreign_state, _ = other.begin("oidc", None)
    body, sig = state.split(".")
    flipped = ("B" if sig[0] == "A" else "A") + sig[1:]
    for bad in (foreign_state, f"{body}.{flipped}", "no-dot", "", f"{body}x.{sig}"):
        with pytest.raises(StateError) as exc:
            k.finish(bad, cookie, "oidc")
        assert reason(exc) == "forged_state", bad
    with pytest.raises(StateError) as exc:
        k.finish(state, cookie, "ldap")  # an OIDC state posted to the LDAP form
    assert reason(exc) == "forged_state"
    assert k.finish(state, cookie, "oidc").box is None  # none of that consumed the genuine state


def test_state_without_its_browser_cookie_is_refused_and_not_consumed() -> None:
    clock = Clock()
    k = kit(clock)
    _, state, cookie = k.begin("ldap", None)
    _, _, other_cookie = k.begin("ldap", None)
    for cookie_seen in (None, "", other_cookie, cookie[:-4] + "AAAA"):
        with pytest.raises(StateError) as exc:
            k.finish(state, cookie_seen, "ldap")
        assert reason(exc) == "state_mismatch"
    k.finish(state, cookie, "ldap")


def test_state_expires() -> None:
    clock = Clock()
    k = kit(clock)
    _, state, cookie = k.begin("oidc", None)
    clock.now += 301
    with pytest.raises(StateError) as exc:
        k.finish(state, cookie, "oidc")
    assert reason(exc) == "expired"


def test_transaction_cookie_hides_nonce_and_verifier() -> None:
    k = kit(Clock())
    tx, state, cookie = k.begin("oidc", "service@example.com")
    for value in (tx.nonce, tx.code_verifier, "service@example.com"):
        assert value not in cookie and value not in state
    assert 43 <= len(tx.code_verifier) <= 128
    # RFC 7636 appendix B
    assert code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == \
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_sessions() -> None:
    clock = Clock()
    k = kit(clock)
    session = Session("oidc", "sub-1", "alice@example.com", "alice@example.com", ("cs",), k.session_expiry())
    sealed = k.seal_session(session)
    assert "alice" not in sealed
    assert k.open_session(sealed) == session
    assert k.open_session(sealed[:-4] + "AAAA") is None
    assert kit(clock, "o" * 40).open_session(sealed) is None
    clock.now += 901
    assert k.open_session(sealed) is None


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32"):
        TokenKit("short", state_ttl=300, session_ttl=0)
