"""Session cookies of the console login: signed, expiring, bound to the token they were made from."""

from __future__ import annotations

from pipeline.auth import SessionCodec


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_cookie_opens_to_its_token_digest_until_it_expires() -> None:
    clock = Clock()
    codec = SessionCodec([b"t" * 32], ttl_seconds=60, clock=clock)
    cookie = codec.issue(b"t" * 32)
    session = codec.open(cookie)
    assert session is not None and session.token_digest == codec.digest(b"t" * 32)
    assert "t" * 8 not in cookie
    clock.now += 61
    assert codec.open(cookie) is None


def test_a_tampered_or_foreign_cookie_opens_to_nothing() -> None:
    codec = SessionCodec([b"t" * 32])
    cookie = codec.issue(b"t" * 32)
    packed, _, sig = cookie.rpartition(".")
    assert codec.open(packed[:-1] + ("A" if packed[-1] != "A" else "B") + "." + sig) is None
    assert codec.open(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
    assert codec.open("garbage") is None and codec.open("") is None
    rotated = SessionCodec([b"u" * 32])  # a changed token set derives another key: old sessions end
    assert rotated.open(cookie) is None


def test_csrf_is_bound_to_the_session() -> None:
    codec = SessionCodec([b"t" * 32])
    one, two = codec.issue(b"t" * 32), codec.issue(b"t" * 32)
    assert codec.csrf_ok(one, codec.csrf(one))
    assert not codec.csrf_ok(one, codec.csrf(two)) and not codec.csrf_ok(one, "")


def test_without_tokens_the_key_is_random_per_process() -> None:
    a, b = SessionCodec([]), SessionCodec([])
    assert b.open(a.issue(b"x")) is None
