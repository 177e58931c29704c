"""Login log: every login type, IP handling."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize

# type -> (type_name, event.action, ocsf logon_type_id, logon_type)
EXPECTED = {
    1: ("web", "login-web", 3, "Network"),
    2: ("mobile", "login-mobile", 3, "Network"),
    3: ("qqmail_app", "login-qqmail-app", 3, "Network"),
    4: ("desktop_client", "login-desktop-client", 3, "Network"),
    5: ("other", "login-other", 99, "Other"),
    6: ("unknown", "login-unknown", 0, "Unknown"),
}


@pytest.mark.parametrize("login_type", sorted(EXPECTED))
def test_login_type(samples: Any, login_type: int) -> None:
    event = normalize(samples.login_log(type=login_type))
    doc = event.data
    name, action, logon_type_id, logon_type = EXPECTED[login_type]
    assert doc["exmail"]["login"]["type"] == login_type
    assert doc["exmail"]["login"]["type_name"] == name
    assert doc["event"]["action"] == action
    assert doc["event"]["category"] == ["authentication", "session"]
    assert doc["event"]["type"] == ["start"]
    assert doc["event"]["outcome"] == "success"
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (3002, 1, 300201)
    assert (ocsf["logon_type_id"], ocsf["logon_type"]) == (logon_type_id, logon_type)
    assert ocsf["status_id"] == 1
    assert ocsf["user"]["uid"] == "alice@example.com"
    assert validate("exmail.event/1", event.to_dict()) == []


def test_login_fields(samples: Any) -> None:
    doc = normalize(samples.login_log()).data
    assert doc["user"] == {"id": "alice@example.com", "name": "alice", "email": "alice@example.com",
                           "domain": "example.com"}
    assert doc["source"] == {"ip": "203.0.113.7"}
    assert doc["related"] == {"user": ["alice@example.com"], "ip": ["203.0.113.7"]}
    assert doc["ocsf"]["src_endpoint"] == {"ip": "203.0.113.7"}
    assert doc["exmail"]["login"]["userid"] == "alice@example.com"


def test_ipv6_login(samples: Any) -> None:
    event = normalize(samples.login_log(ip="2001:db8::7"))
    assert event.data["source"] == {"ip": "2001:db8::7"}
    assert validate("exmail.event/1", event.to_dict()) == []


@pytest.mark.parametrize("ip", ["not-an-ip", "10.0.0.300", "fe80::1%eth0"])
def test_invalid_ip_goes_to_source_address_only(samples: Any, ip: str) -> None:
    event = normalize(samples.login_log(ip=ip))
    assert event.data["source"] == {"address": ip}
    assert "ip" not in event.data["related"]
    assert event.data["exmail"]["login"]["ip"] == ip
    assert validate("exmail.event/1", event.to_dict()) == []


def test_empty_ip(samples: Any) -> None:
    event = normalize(samples.login_log(ip=""))
    assert "source" not in event.data
    assert validate("exmail.event/1", event.to_dict()) == []
