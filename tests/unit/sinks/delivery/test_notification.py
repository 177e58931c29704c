"""The Notification input: round trip, and clear errors for malformed records."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.envelope import Envelope
from pipeline.sinks.delivery.notification import Notification, NotificationError


def test_round_trip(make: Callable[..., Notification]) -> None:
    n = make()
    assert Notification.from_dict(n.to_dict()) == n
    assert n.status == "firing" and n.severity == "critical" and n.id == "nk-1"


def test_from_envelope_fills_corp_id(make: Callable[..., Notification]) -> None:
    data = make(corp_id="").to_dict()
    env = Envelope(schema="exmail.notification/1", id="x", corp_id="corpA", source="grouping",
                   occurred_at="2026-11-29T00:00:00.000Z", data=data)
    assert Notification.from_envelope(env).corp_id == "corpA"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("receiver"), "'receiver'"),
    (lambda d: d.update(alerts="x"), "'alerts' must be a list"),
    (lambda d: d["alerts"][0].update(status="pending"), r"alerts\[0\]\.status"),
    (lambda d: d["alerts"][1].update(labels=[1]), r"alerts\[1\]\.labels"),
    (lambda d: d.update(sso_links=[{"label": "x"}]), r"sso_links\[0\]"),
    (lambda d: d.update(recipients=[1]), "'recipients'"),
    (lambda d: d.update(title=5), "'title'"),
])
def test_malformed_records_name_the_field(mutate: object, message: str, make: Callable[..., Notification]) -> None:
    data = make().to_dict()
    mutate(data)  # type: ignore[operator]
    with pytest.raises(NotificationError, match=message):
        Notification.from_dict(data)


def test_sso_links_stay_out_of_reprs(make: Callable[..., Notification]) -> None:
    assert "sso.example" not in repr(make())
