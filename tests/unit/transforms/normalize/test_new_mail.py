"""New mail: callback Mail push, UnRead push, NewCount poll (rise and no rise), FromUser forms."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize
from pipeline.transforms.normalize.new_mail import sender_address


def test_mail_push_is_a_receive(samples: Any) -> None:
    raw = samples.new_mail("Mail")
    event = normalize(raw)
    doc = event.data
    assert doc["event"]["action"] == "new-mail"
    assert (doc["event"]["category"], doc["event"]["type"], doc["event"]["outcome"]) == (["email"], ["info"],
                                                                                          "success")
    assert doc["event"]["provider"] == "mail/callback"
    assert doc["email"] == {
        "to": {"address": ["alice@example.com"]},
        "from": {"address": ["bob@partner.com"]},
        "subject": "Quarterly report",
        "direction": "inbound",
        "delivery_timestamp": "2025-11-29T18:04:36.000Z",
        "local_id": "ZmFrZS1tYWlsLWlkLTAwMDE=",
    }
    assert doc["user"]["id"] == "alice@example.com"
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (4009, 2, 400902)
    assert ocsf["direction_id"] == 1
    assert ocsf["email"]["uid"] == "ZmFrZS1tYWlsLWlkLTAwMDE="
    assert "count" not in ocsf
    assert doc["exmail"]["new_mail"]["correlation_key"] == raw.data["correlation_key"]
    assert doc["exmail"]["new_mail"]["arrived"] == 1
    assert validate("exmail.event/1", event.to_dict()) == []


def test_poll_with_rising_count_is_a_receive_of_the_difference(samples: Any) -> None:
    event = normalize(samples.new_mail("NewCount", new_count=7, previous_count=4))
    doc = event.data
    assert doc["event"]["action"] == "new-mail-count"
    assert doc["event"]["provider"] == "mail/newcount"
    assert (doc["ocsf"]["class_uid"], doc["ocsf"]["activity_id"], doc["ocsf"]["count"]) == (4009, 2, 3)
    assert doc["exmail"]["new_mail"]["arrived"] == 3
    assert "from" not in doc["email"]
    assert validate("exmail.event/1", event.to_dict()) == []


def test_poll_without_previous_count_counts_all(samples: Any) -> None:
    event = normalize(samples.new_mail("NewCount", new_count=2, previous_count=None))
    assert event.data["ocsf"]["count"] == 2


@pytest.mark.parametrize(("new_count", "previous_count"), [(3, 3), (1, 4)])
def test_poll_without_rise_only_reports_the_count(samples: Any, new_count: int, previous_count: int) -> None:
    event = normalize(samples.new_mail("NewCount", new_count=new_count, previous_count=previous_count))
    doc = event.data
    assert doc["event"]["action"] == "unread-count-changed"
    assert (doc["ocsf"]["class_uid"], doc["ocsf"]["activity_id"], doc["ocsf"]["type_uid"]) == (0, 99, 99)
    assert doc["exmail"]["new_mail"]["arrived"] == 0
    assert "email" not in doc
    assert validate("exmail.event/1", event.to_dict()) == []


def test_unread_push_is_info(samples: Any) -> None:
    event = normalize(samples.new_mail("UnRead", unread_count=0))
    doc = event.data
    assert doc["event"]["action"] == "unread-count-changed"
    assert doc["event"]["type"] == ["info"]
    assert doc["event"]["outcome"] == "success"
    assert (doc["ocsf"]["class_uid"], doc["ocsf"]["activity_id"]) == (0, 99)
    assert doc["ocsf"]["activity_name"] == "Unread Count"
    assert doc["ocsf"]["unmapped"] == {"userid": "alice@example.com", "unread_count": 0}
    assert doc["user"]["id"] == "alice@example.com"
    assert validate("exmail.event/1", event.to_dict()) == []


def test_push_and_poll_of_one_arrival_share_the_correlation_key(samples: Any) -> None:
    push = normalize(samples.new_mail("Mail", new_count=5,
                                      correlation_key=samples.new_mail("NewCount").data["correlation_key"]))
    poll = normalize(samples.new_mail("NewCount"))
    assert push.id != poll.id
    assert push.data["exmail"]["new_mail"]["correlation_key"] == poll.data["exmail"]["new_mail"]["correlation_key"]


@pytest.mark.parametrize(("from_user", "address"), [
    ('"bob@partner.com"<bob@partner.com>', "bob@partner.com"),
    ("Bob <bob@partner.com>", "bob@partner.com"),
    ("bob@partner.com", "bob@partner.com"),
    ("bob", "bob"),
    ("", None),
    (None, None),
    ("<>", None),
])
def test_sender_address(from_user: str | None, address: str | None) -> None:
    assert sender_address(from_user) == address


def test_mail_push_without_sender(samples: Any) -> None:
    event = normalize(samples.new_mail("Mail", **{"from": None}))
    assert "from" not in event.data["email"]
    assert event.data["related"] == {"user": ["alice@example.com"]}
    assert validate("exmail.event/1", event.to_dict()) == []
