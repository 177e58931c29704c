"""with_digests: the pollers' 16-byte ids are raw_id's, occurrences included."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.records import LOG_IDENTITY_FIELDS, raw_id, with_digests, with_ids, with_occurrences

scalars = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=4), st.sampled_from(["a", 1]))


@settings(max_examples=100, deadline=None)
@given(kind=st.sampled_from([*LOG_IDENTITY_FIELDS, "new_mail"]), data=st.data())
def test_digests_are_the_raw_ids_with_occurrences(kind: str, data: Any) -> None:
    names = st.sampled_from([*LOG_IDENTITY_FIELDS.get(kind, ("a", "b")), "extra"])
    records = data.draw(st.lists(st.dictionaries(names, scalars, max_size=4), max_size=8))
    records += records[:2]  # identical records: numbered by occurrence
    context = {"userid": "u@x.com", "date": "2026-03-10"}
    expected = [raw_id("wwcorp", kind, r, n, context) for n, r in with_occurrences(kind, records, context)]
    assert [d.hex() for d, _ in with_digests("wwcorp", kind, records, context)] == expected
    assert [i for i, _ in with_ids("wwcorp", kind, records, context)] == expected
