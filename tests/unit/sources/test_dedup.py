"""Seen-record sets: digests of fingerprints, membership across compactions, one set per date."""

from __future__ import annotations

import os
from datetime import date

import pytest

from pipeline.envelope import fingerprint
from pipeline.sources.dedup import DigestSet, SeenSet, digest_of

D = date.fromisoformat


def test_digest_set_membership_across_compactions() -> None:
    digests = [os.urandom(16) for _ in range(5000)]
    s = DigestSet()
    for d in digests:
        assert s.add(d)
    assert all(not s.add(d) for d in digests[:100])
    assert len(s) == 5000
    assert all(d in s for d in digests)
    assert os.urandom(16) not in s
    assert b"short" not in s
    s.compact()
    assert sorted(s) == sorted(digests)
    assert s.nbytes() < 5000 * 20  # packed: ~16 bytes per digest


def test_digest_of_requires_a_fingerprint() -> None:
    assert digest_of(fingerprint("x")) == bytes.fromhex(fingerprint("x"))
    with pytest.raises(ValueError):
        digest_of("abcd")


def test_seen_set_per_date() -> None:
    seen = SeenSet()
    a, b = digest_of(fingerprint(1)), digest_of(fingerprint(2))
    assert seen.add(D("2026-03-09"), a)
    assert not seen.add(D("2026-03-10"), a)  # known under another date counts as seen
    assert seen.add(D("2026-03-10"), b)
    assert seen.dates() == [D("2026-03-09"), D("2026-03-10")]
    assert seen.drop_through(D("2026-03-09")) == 1
    assert a not in seen and b in seen and len(seen) == 1
