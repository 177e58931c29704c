"""Splunk HEC events: metadata, time and the indexed ids."""

from __future__ import annotations

from collections.abc import Callable

from pipeline.envelope import Envelope
from pipeline.sinks.splunk_hec import hec_event

# RFC 5424 §6 in one regex: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG


EventFactory = Callable[..., Envelope]


def test_hec_event_carries_metadata_time_and_indexed_ids(audit_event: EventFactory) -> None:
    env = audit_event(1)
    out = hec_event(env, host="mx-1", source="exmail-pipeline", sourcetype="exmail:event", index="mail")
    assert out["time"] == 1793872800.0
    assert (out["host"], out["source"], out["sourcetype"], out["index"]) == (
        "mx-1", "exmail-pipeline", "exmail:event", "mail")
    assert out["event"] == env.data
    assert out["fields"] == {"event_id": env.id, "corp_id": "corp1", "dataset": "exmail.login_log"}
    assert "index" not in hec_event(env, host="h", source="s", sourcetype="t", index=None)
