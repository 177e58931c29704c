"""Every record an action produces validates against schemas/action.v1.json, alerts parse as rule alerts,
and records land in the audit store with useful index columns (visible to `pipeline audit query`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from pipeline.actions import ACTION_SCHEMA, KafkaActionOutput
from pipeline.actions.outputs import build_alert
from pipeline.kafka import TopicNames
from pipeline.schema_registry import validate
from pipeline.sinks.audit import AuditQuery
from pipeline.sinks.audit._rows import prepare
from pipeline.sinks.audit.sqlite import SqliteAuditStore
from pipeline.transforms.routing import parse_routing_config
from pipeline.transforms.rules.alert import Alert

DOMAIN = "corp.example.com"


async def _every_status(harness) -> None:
    service = harness.service()
    await service.handle_hr(
        harness.hr("joiner", f"new@{DOMAIN}", request_id="J", name="New", department_path="R&D/Mail team")
    )
    await service.handle_hr(harness.hr("joiner", f"user1@{DOMAIN}", request_id="J2", name="Other"))
    done = await service.handle_alert(harness.alert("login_hostile_ip", f"user2@{DOMAIN}"))
    await service.undo(done.id, by="ops")
    await service.handle_alert(harness.alert("login_hostile_ip", f"vip@{DOMAIN}"))
    await service.handle_alert(harness.alert("needs_approval", f"user3@{DOMAIN}"))
    await harness.service(dry_run=True).handle_alert(
        harness.alert("imap_abuse", f"user4@{DOMAIN}", action="disable_imap")
    )
    await service.handle_hr(harness.hr("leaver", f"user5@{DOMAIN}", request_id="L"))
    await service.handle_options(
        harness.options(f"user6@{DOMAIN}", [{"type": 3, "desired": "0", "actual": "1"}])
    )


async def test_records_validate_against_the_schema(harness):
    await _every_status(harness)
    statuses = {r.data["status"] for r in harness.output.records}
    assert statuses == {
        "requested",
        "executed",
        "failed",
        "skipped",
        "awaiting_approval",
        "dry_run",
        "undone",
    }
    for record in harness.output.records:
        assert record.schema == ACTION_SCHEMA
        assert validate(ACTION_SCHEMA, record.to_dict()) == [], record.data
    assert len({r.id for r in harness.output.records}) == len(harness.output.records)


def test_schema_catches_a_password_in_a_record(harness):
    asyncio.run(_every_status(harness))
    record = next(r for r in harness.output.records if r.data["kind"] == "joiner" and r.data["calls"])
    data = record.to_dict()
    data["data"]["calls"][-2]["params"]["password"] = "Leaked123abc"
    assert any("password" in e for e in validate(ACTION_SCHEMA, data))


async def test_alerts_are_rule_alerts_without_actions(harness):
    await _every_status(harness)
    assert harness.output.alerts
    names = set()
    for envelope in harness.output.alerts:
        alert = Alert.from_envelope(envelope)
        assert alert.action is None and alert.fingerprint == envelope.data["fingerprint"]
        assert alert.labels["corp"] == envelope.corp_id
        names.add(alert.name)
    assert names == {"action_failed", "action_approval_required"}


async def test_records_are_stored_and_queryable_in_the_audit_store(harness, tmp_path):
    await _every_status(harness)
    row = prepare(harness.output.records[0])
    assert (row.kind, row.action, row.user) == ("exmail.actions", "joiner", f"new@{DOMAIN}")
    store = await SqliteAuditStore.open(tmp_path / "audit.db")
    try:
        result = await store.write_batch(harness.output.records, 0)
        assert result.inserted == len(harness.output.records) and not result.rejected
        again = await store.write_batch(harness.output.records, 0)
        assert again.inserted == 0
        rows = [
            r
            async for r in store.query(
                AuditQuery(
                    kind="exmail.actions", action="disable_account", since=datetime(2020, 1, 1, tzinfo=UTC)
                )
            )
        ]
        assert sorted(r.envelope["data"]["status"] for r in rows) == [
            "awaiting_approval",
            "executed",
            "requested",
            "requested",
            "requested",
            "skipped",
            "undone",
        ]
        assert {r.outcome for r in rows} == {"unknown", "success"}
        assert (await store.verify()).ok
    finally:
        await store.close()


@pytest.mark.parametrize("status", ["executed", "failed"])
async def test_outcome_column_follows_status(harness, status):
    service = harness.service()
    target = f"user1@{DOMAIN}" if status == "executed" else f"ghost@{DOMAIN}"
    await service.handle_alert(harness.alert("login_hostile_ip", target))
    row = prepare(harness.output.records[-1])
    assert row.outcome == {"executed": "success", "failed": "failure"}[status]


async def test_operator_alerts_are_keyed_by_the_routing_partition_key() -> None:
    """With a routing config, an operator alert lands on the exmail.alerts partition its group lives on."""
    sent: list[tuple[str, bytes]] = []

    class Producer:
        async def send(self, topic: str, envelope: object, key: bytes) -> None:
            sent.append((topic, key))

    routing = parse_routing_config({"route": {"receiver": "ops", "group_by": ["alertname", "corp"]},
                                    "receivers": [{"name": "ops"}]})
    env = build_alert(rule="action_failed", corp_id="c1", labels={"alertname": "ActionFailed", "corp": "c1"},
                      annotations={"summary": "s"}, now=1_800_000_000.0, resolve_after=300, event_ids=[])
    await KafkaActionOutput(Producer(), TopicNames("p."), routing.partition_key).alert(b"fp", env)  # type: ignore[arg-type]
    await KafkaActionOutput(Producer(), TopicNames("p.")).alert(b"fp", env)  # type: ignore[arg-type]
    assert sent == [("p.exmail.alerts", b"alertname=ActionFailed\x00corp=c1"), ("p.exmail.alerts", b"fp")]
