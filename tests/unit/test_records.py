"""with_ids (the pollers' fast path) gives exactly the ids of with_occurrences + raw_id, for every kind."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.records import raw_id, with_ids, with_occurrences

SCALARS = st.one_of(st.none(), st.integers(-2**40, 2**40), st.text(max_size=8), st.booleans())


def _reference(corp: str, kind: str, records: list[dict[str, Any]], context: dict[str, Any] | None) -> list[str]:
    return [raw_id(corp, kind, rec, occ, context) for occ, rec in with_occurrences(kind, records, context)]


@pytest.mark.parametrize(("kind", "context"), [
    ("mail_log", {"date": "2026-03-10", "query_mailtype": 0}),
    ("login_log", {"userid": "carol@example.com", "date": "2026-03-10"}),
    ("operation_log", {"date": "2026-03-10"}),
    ("batchjob_log", None),
    ("some_future_kind", None),  # no identity fields: the whole record, keys sorted
])
@given(records=st.lists(st.dictionaries(st.sampled_from(["time", "ip", "type", "sender", "status", "x"]), SCALARS,
                                        max_size=5), max_size=12))
def test_with_ids_matches_raw_id_with_occurrences(kind: str, context: dict[str, Any] | None,
                                                  records: list[dict[str, Any]]) -> None:
    doubled = records + records[:3]  # identical records get occurrences 0, 1, ...
    fast = [rid for rid, _ in with_ids("wwcorp", kind, doubled, context)]
    assert fast == _reference("wwcorp", kind, doubled, context)
    assert [rec for _, rec in with_ids("wwcorp", kind, doubled, context)] == doubled
