from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.sinks.sse._filters import ANY_LABEL, FilterError, allowed_for, parse_filters
from pipeline.sinks.sse.server import RESERVED_PARAMS

ALL = allowed_for(None)


def _filter(*pairs: tuple[str, str], allowed: frozenset[str] = ALL) -> Any:
    return parse_filters(pairs, allowed, RESERVED_PARAMS)


ALERT = {
    "corp_id": "wwcorp",
    "data": {
        "status": "firing",
        "rule": "failed_logins",
        "labels": {
            "alertname": "FailedLogins",
            "severity": "critical",
            "corp": "wwcorp",
            "user": "bob@example.com",
            "ip": "10.0.0.9",
        },
    },
}
EVENT = {
    "corp_id": "wwcorp",
    "data": {
        "event": {
            "dataset": "exmail.login_log",
            "action": "login",
            "outcome": "failure",
            "category": ["authentication"],
        },
        "user": {"email": "bob@example.com", "id": "bob@example.com", "name": "bob"},
        "organization": {"id": "wwcorp"},
        "labels": {"region": "cn"},
    },
}


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((("receiver", "ops"),), True),
        ((("receiver", "sec"),), False),
        ((("corp", "wwcorp"),), True),
        ((("severity", "warning"),), True),
        ((("severity", "critical"),), False),
        ((("severity", "critical"), ("severity", "warning")), True),  # one name repeated: any of
        ((("receiver", "ops"), ("severity", "critical")), False),  # different names: all of
        ((("alertname", "FailedLogins"),), True),
        ((("user", "alice@example.com"),), True),
        ((("user", "Alice@example.com"),), False),  # exact match
        ((("status", "firing"),), True),
        ((("label.corp", "wwcorp"),), True),
        ((("label.ip", "1.2.3.4"),), False),
        ((("dataset", "exmail.login_log"),), False),  # an event field never matches a notification
        ((("from", "earliest"), ("access_token", "x")), True),  # reserved parameters are not filters
    ],
)
def test_notification_filters(
    make_notification: Callable[..., dict[str, Any]], pairs: tuple[tuple[str, str], ...], expected: bool
) -> None:
    assert _filter(*pairs).matches("notification", make_notification(1)) is expected


def test_notification_filters_see_every_alert_and_the_delivery_shape() -> None:
    record = {
        "corp_id": "*",
        "data": {
            "receiver": "ops",
            "alerts": [
                {"labels": {"corp": "c1", "user": "a@x"}, "severity": "info"},
                {"labels": {"corp": "c2", "user": "b@x"}, "severity": "critical"},
            ],
        },
    }
    assert _filter(("corp", "c2")).matches("notification", record)
    assert _filter(("user", "a@x")).matches("notification", record)
    assert _filter(("severity", "critical")).matches("notification", record)


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((("severity", "critical"),), True),
        ((("alertname", "FailedLogins"),), True),
        ((("user", "bob@example.com"),), True),
        ((("corp", "wwcorp"),), True),
        ((("rule", "failed_logins"),), True),
        ((("label.ip", "10.0.0.9"),), True),
        ((("status", "resolved"),), False),
        ((("receiver", "ops"),), False),
    ],
)
def test_alert_filters(pairs: tuple[tuple[str, str], ...], expected: bool) -> None:
    assert _filter(*pairs).matches("alert", ALERT) is expected


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((("dataset", "exmail.login_log"),), True),
        ((("dataset", "exmail.mail_log"),), False),
        ((("user", "bob@example.com"),), True),
        ((("corp", "wwcorp"),), True),
        ((("action", "login"),), True),
        ((("outcome", "failure"),), True),
        ((("category", "authentication"),), True),
        ((("label.region", "cn"),), True),
        ((("severity", "critical"),), False),
    ],
)
def test_event_filters(pairs: tuple[tuple[str, str], ...], expected: bool) -> None:
    assert _filter(*pairs).matches("event", EVENT) is expected


def test_malformed_records_do_not_match_and_do_not_raise() -> None:
    flt = _filter(("receiver", "ops"), ("label.x", "y"))
    for record in (
        {},
        {"data": None},
        {"data": {"alerts": "nope", "receiver": 5}},
        {"data": {"alerts": [1]}},
    ):
        assert not flt.matches("notification", record)
    assert _filter().matches("notification", {})


def test_unknown_filter_lists_the_allowed_ones() -> None:
    allowed = frozenset({"receiver", "severity"})
    with pytest.raises(FilterError) as info:
        _filter(("sevrity", "critical"), allowed=allowed)
    assert info.value.allowed == ["receiver", "severity"]
    assert "sevrity" in str(info.value) and "receiver, severity" in str(info.value)
    with pytest.raises(FilterError):
        _filter(("label.ip", "1.2.3.4"), allowed=allowed)
    assert _filter(("label.ip", "1.2.3.4"), allowed=frozenset({ANY_LABEL})).criteria == {
        "label.ip": {"1.2.3.4"}
    }


def test_empty_filter_value_is_an_error() -> None:
    with pytest.raises(FilterError, match="needs a value"):
        _filter(("receiver", ""))


def test_allowed_for_depends_on_the_streamed_kinds() -> None:
    assert "dataset" not in allowed_for(["notification"])
    assert {"receiver", "severity", "corp", ANY_LABEL} <= allowed_for(["notification"])
    assert {"dataset", "user", "corp"} <= allowed_for(["event"])


def test_delivery_records_match_receiver_status_and_group_key_and_never_a_label() -> None:
    delivery = {"data": {"receiver": "cs-robot", "status": "delivered", "group_key": "g1", "notification_id": "n"}}
    assert _filter(("receiver", "cs-robot"), ("status", "delivered")).matches("delivery", delivery)
    assert not _filter(("receiver", "ops")).matches("delivery", delivery)
    assert _filter(("group_key", "g1")).matches("delivery", delivery)
    assert not _filter(("label.user", "x")).matches("delivery", delivery)  # deliveries carry no labels
    assert not _filter(("severity", "info")).matches("delivery", delivery)
    assert {"receiver", "status", "group_key"} <= allowed_for(["delivery"])
