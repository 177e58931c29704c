"""Who may open which mailbox: own box inside the corp's domains, shared boxes by group, nothing else."""

from __future__ import annotations

import pytest

from pipeline.sso_gateway import LoginRefused, SsoGatewaySettings
from pipeline.sso_gateway._policy import AccessPolicy, Identity, requested_box


def settings(**over: object) -> SsoGatewaySettings:
    base: dict[str, object] = {
        "public_url": "https://gw.example.com", "secret": "env:GW_SECRET", "domains": ["Example.com"],
        "shared": [{"mailbox": "Service@example.com", "groups": ["Customer-Service"]}],
        "ldap": {"url": "ldap://127.0.0.1:389", "bind_dn": "cn=r", "bind_password": "env:P", "user_base": "o=x",
                 "group_base": "o=x"},
    }
    return SsoGatewaySettings.model_validate({**base, **over})


def who(mailbox: str | None, *groups: str) -> Identity:
    return Identity("ldap", "uid=x", "x", mailbox, groups)


def refused(policy: AccessPolicy, identity: Identity, box: str | None) -> str:
    with pytest.raises(LoginRefused) as exc:
        policy.decide(identity, box)
    return exc.value.reason


def test_own_mailbox() -> None:
    policy = AccessPolicy(settings())
    grant = policy.decide(who("Alice@Example.com"), None)
    assert (grant.mailbox, grant.shared) == ("alice@example.com", False)
    assert policy.decide(who("alice@example.com"), "alice@example.com").mailbox == "alice@example.com"
    assert refused(policy, who("alice@elsewhere.com"), None) == "no_own_mailbox"
    assert refused(policy, who(None), None) == "no_own_mailbox"
    assert refused(AccessPolicy(settings(own_mailbox=False)), who("alice@example.com"), None) == "not_allowed"


def test_shared_mailbox_by_group() -> None:
    policy = AccessPolicy(settings())
    grant = policy.decide(who("alice@example.com", "staff", "customer-service"), "service@example.com")
    assert (grant.mailbox, grant.shared, grant.via_groups) == ("service@example.com", True, ("customer-service",))
    assert refused(policy, who("bob@example.com", "sales"), "service@example.com") == "not_in_group"
    assert refused(policy, who(None), "service@example.com") == "not_in_group"
    # another employee's mailbox is never a shared one
    assert refused(policy, who("alice@example.com", "customer-service"), "bob@example.com") == "not_allowed"


def test_requested_box() -> None:
    assert requested_box(None) is None and requested_box("  ") is None
    assert requested_box(" Service@Example.com ") == "service@example.com"
    for bad in ("service", "a@b@c", "x" * 300 + "@example.com", "a b@example.com"):
        with pytest.raises(LoginRefused) as exc:
            requested_box(bad)
        assert exc.value.reason == "bad_request"
