"""Property test of label matchers: their text form round-trips."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.transforms.routing.matchers import Matcher, matchers_string, parse_matchers

label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)
values = st.text(max_size=20)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.tuples(label_names, st.sampled_from(["=", "!=", "=~", "!~"]), values), min_size=1, max_size=4))
def test_matcher_text_round_trips(specs: list[tuple[str, str, str]]) -> None:
    """str(matcher) is valid matcher syntax that parses back to the same matcher (quoting and escapes)."""
    matchers = [Matcher.create(name, op, re.escape(value) if "~" in op else value) for name, op, value in specs]
    for m in matchers:
        assert parse_matchers(str(m)) == [m]
    assert parse_matchers(matchers_string(matchers)) == matchers
