"""Initial passwords: generated per policy, delivered only through the secure channel, and absent from logs,
records, alerts, the ledger, exceptions and reprs."""

from __future__ import annotations

import logging

import orjson
import pytest

from pipeline.actions import (
    Credential,
    DeliveryFailed,
    PasswordPolicy,
)
from pipeline.actions.passwords import generate_password, satisfies_exmail_rule

DOMAIN = "corp.example.com"
NEW = f"new.hire@{DOMAIN}"


@pytest.mark.parametrize(
    "policy",
    [
        PasswordPolicy(),
        PasswordPolicy(length=8),
        PasswordPolicy(length=32),
        PasswordPolicy(symbols=True, avoid_ambiguous=False),
    ],
)
def test_generated_passwords_follow_the_policy_and_the_exmail_rule(policy):
    seen = set()
    for _ in range(200):
        password = generate_password(policy, "abcdef@x.com").get_secret_value()
        assert len(password) == policy.length and satisfies_exmail_rule(password)
        assert "abcdef" not in password.lower()
        if policy.avoid_ambiguous:
            assert not set(password) & set("0O1lI")
        if not policy.symbols:
            assert password.isalnum()
        seen.add(password)
    assert len(seen) == 200


def test_policy_refuses_short_passwords():
    with pytest.raises(ValueError):
        PasswordPolicy(length=6)


async def test_password_never_leaves_through_logs_records_ledger_or_reprs(harness, crash, caplog):
    caplog.set_level(logging.DEBUG)
    service = harness.service()
    await service.handle_hr(
        harness.hr("joiner", NEW, request_id="J1", name="New Hire", department_path="R&D")
    )
    harness.fake.fault("user/create", crash(), when="after")
    other = f"second@{DOMAIN}"
    with pytest.raises(crash) as crashed:
        await service.handle_hr(harness.hr("joiner", other, request_id="J2", employee_id="E2", name="Second"))
    await harness.service().run_due()
    harness.fake.fault("user/update", RuntimeError("boom"), when="before")
    passwords = harness.fake.passwords
    assert len(passwords) == 3
    drop_files = sorted(harness.drop_dir.glob("*.json"))
    assert {orjson.loads(f.read_bytes())["password"] for f in drop_files} == {passwords[0], passwords[2]}

    haystacks = [caplog.text, repr(service), str(crashed.value)]
    haystacks += [r.encode().decode() for r in harness.output.records + harness.output.alerts]
    haystacks += [raw.decode() for raw in harness.store.data.values()]
    for entry in await service.list_actions("recent"):
        haystacks += [repr(entry), str(entry.summary()), orjson.dumps(entry.to_json()).decode()]
    for password in passwords:
        assert all(password not in text for text in haystacks)
    assert caplog.records, "the service logs what it does (without secrets)"


async def test_failed_delivery_retries_then_fails_with_alert(harness):
    class Broken:
        name = "webhook"

        async def deliver(self, credential: Credential) -> str:
            raise DeliveryFailed("webhook channel: delivery failed (HTTP 503)")

    harness.channel = Broken()
    service = harness.service(retry={"max_attempts": 2, "backoff": "1m"})
    entry = await service.handle_hr(harness.hr("joiner", NEW, name="New Hire", department_path="R&D"))
    assert entry.state.value == "scheduled" and "delivery failed" in entry.error
    assert NEW in harness.fake.users
    harness.clock.advance(61)
    [failed] = await service.run_due()
    assert failed.state.value == "failed" and failed.attempts == 2
    assert "gave up after 2 attempts" in failed.error and "HTTP 503" in failed.error
    assert harness.fake.write_endpoints() == ["user/create", "user/update"], (
        "the retry re-issues the password"
    )
    assert harness.output.alerts[-1].data["labels"]["alertname"] == "action_failed"
    assert all(p not in failed.error for p in harness.fake.passwords)


