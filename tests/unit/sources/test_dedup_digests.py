"""DigestSet's packed lookup (2-byte heads + bytes.find) and the per-round insert used by the log pollers."""

from __future__ import annotations

import os
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.sources.dedup import DigestSet, SeenSet

digests = st.binary(min_size=16, max_size=16)


@settings(max_examples=100, deadline=None)
@given(held=st.lists(st.one_of(digests, st.binary(min_size=2, max_size=2).map(lambda h: h + bytes(14))),
                     max_size=3000),
       probes=st.lists(digests, max_size=50))
def test_membership_matches_a_plain_set_across_compactions(held: list[bytes], probes: list[bytes]) -> None:
    s = DigestSet()
    s.insert_many(set(held[: len(held) // 2]))
    for d in held[len(held) // 2:]:
        s.add(d)
    s.compact()
    plain = set(held)
    assert len(s) == len(plain)
    for d in [*held, *probes]:
        assert (d in s) == (d in plain)
    assert sorted(s) == sorted(plain)


def test_a_match_straddling_two_packed_digests_is_not_a_member() -> None:
    a, b = bytes(range(16)), bytes([0, 1, *range(30, 44)])  # same 2-byte head: searched in one run
    s = DigestSet([a, b, *(os.urandom(16) for _ in range(2000))])
    s.compact()
    assert a in s and b in s
    assert a[8:] + b[:8] not in s and a[1:] + b[:1] not in s


def test_long_runs_of_one_head_and_heads_at_the_ends() -> None:
    run = [b"\x12\x34" + os.urandom(14) for _ in range(200)]
    ends = [bytes(16), b"\xff" * 16, b"\xff\xff" + os.urandom(14)]
    s = DigestSet([*run, *ends, *(os.urandom(16) for _ in range(5000))])
    s.compact()
    assert all(d in s for d in [*run, *ends])
    assert b"\x12\x34" + os.urandom(14) not in s and b"\xff" * 15 + b"\xfe" not in s


def test_seen_set_insert_new_checks_lengths_and_counts_per_date() -> None:
    seen = SeenSet()
    day = date(2026, 3, 10)
    batch = [os.urandom(16) for _ in range(3000)]
    seen.insert_new(day, batch)
    assert len(seen) == seen.count(day) == 3000 and all(d in seen for d in batch)
    with pytest.raises(ValueError):
        seen.insert_new(day, [b"short"])
