"""The exmail.alert/1 wire form: what decodes, and errors that name the bad field."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.transforms.rules.alert import Alert, AlertError

WIRE: dict[str, Any] = {"labels": {"alertname": "A", "corp": "c"}, "annotations": {"summary": "s"},
                        "starts_at": "2026-12-07T18:00:00.000Z", "ends_at": "2026-12-07T19:00:00.000Z"}


class Text(str):
    """A str subclass: Python callers may pass one; JSON never does."""


def test_times_are_the_same_parsed_once_or_again() -> None:
    first, again = Alert.from_dict(dict(WIRE)), Alert.from_dict(dict(WIRE))
    assert (first.starts_at, first.ends_at) == (again.starts_at, again.ends_at) == (1_796_666_400.0, 1_796_670_000.0)
    assert Alert.from_dict({**WIRE, "starts_at": 5}).starts_at == 5.0


def test_str_subclasses_are_strings_and_other_types_are_named() -> None:
    alert = Alert.from_dict({**WIRE, "labels": {Text("alertname"): Text("A")}, "annotations": {"x": Text("y")}})
    assert alert.labels == {"alertname": "A"} and alert.annotations == {"x": "y"}
    with pytest.raises(AlertError, match="'labels' must map strings to strings"):
        Alert.from_dict({**WIRE, "labels": {"alertname": 1}})
    with pytest.raises(AlertError, match="'labels' must map strings to strings"):
        Alert.from_dict({**WIRE, "labels": {1: "a"}})
    with pytest.raises(AlertError, match="'annotations' must map strings to strings"):
        Alert.from_dict({**WIRE, "annotations": {"summary": None}})
    with pytest.raises(AlertError, match="'starts_at'"):
        Alert.from_dict({**WIRE, "starts_at": "not a time"})
    with pytest.raises(AlertError, match="'ends_at' must be an RFC 3339 time"):
        Alert.from_dict({**WIRE, "ends_at": True})
