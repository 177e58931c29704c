"""`pipeline demo` end to end: the real broker, the simulator, ingest and worker as processes, no TTY."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

pytestmark = pytest.mark.integration

POLLED_STREAMS = {"mail_log", "login_log", "operation_log", "batchjob_log", "mail_status", "directory", "options",
                  "newcount"}


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if text in cmdline and str(os.getpid()) != entry.name:
            found.append(f"{entry.name}: {cmdline[:200]}")
    return found


def _delete_run_topics(bootstrap: str, summary: dict[str, Any]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    names = [t for t in admin.list_topics(timeout=10).topics
             if t.startswith(summary["topic_prefix"]) or t.startswith(summary["app_id"])]
    if names:
        for fut in admin.delete_topics(names, operation_timeout=30).values():
            fut.exception()


def test_demo_runs_the_whole_pipeline_and_summarizes_it(kafka_bootstrap: str, tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    proc = subprocess.run([sys.executable, "-m", "pipeline.cli", "demo", "--duration", "40", "--output", str(out)],
                          capture_output=True, text=True, timeout=170, env=dict(os.environ), check=False)
    runs = sorted(out.iterdir())
    assert len(runs) == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    run = runs[0]
    summary = json.loads((run / "summary.json").read_text())
    try:
        assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
        assert summary["ok"] and all(c["ok"] for c in summary["checks"]), summary["checks"]

        # every stream has records; audit holds every event once
        assert all(summary["streams"][s] > 0 for s in summary["required_streams"]), summary["streams"]
        assert set(summary["required_streams"]) >= {"mail_log", "login_log", "operation_log", "batchjob_log",
                                                    "mail_status", "new_mail", "directory", "options"}
        assert summary["events_distinct"] == summary["events_records"] > 0
        # audit holds the events and exmail.actions (the demo's operator drill: silence created and expired)
        assert summary["actions_distinct"] >= 2
        assert summary["audit_rows"] == summary["events_distinct"] + summary["actions_distinct"]

        # the SOC's feeds: the JSON-lines file (and rsyslog's CEF where installed) hold exactly the audited events
        with sqlite3.connect(run / "audit.db") as con:
            audited = {row[0] for row in con.execute("SELECT id FROM audit_records WHERE schema = 'exmail.event/1'")}
        feed_lines = [json.loads(x) for f in sorted((run / "siem-feed").glob("*.ndjson"))
                      for x in f.read_text().splitlines()]
        assert len(feed_lines) == len(audited) == summary["feeds"]["jsonl-feed"]["events"]
        assert {d["event"]["id"] for d in feed_lines} == audited
        assert all("@timestamp" in d and "ocsf" in d for d in feed_lines)
        assert "jsonl-feed" in proc.stdout and str(run / "siem-feed") in proc.stdout
        assert summary["console"]["ok"], summary["console"]  # logged in through the form while the demo ran
        assert "/console/ — log in as demo-admin" in proc.stdout and str(run / "secrets" / "api_token_admin") \
            in proc.stdout
        if Path("/usr/sbin/rsyslogd").exists():
            received = (run / "rsyslog" / "received.log").read_text().splitlines()
            ids = {m.group(1) for m in (re.search(r'\bid="([^"]+)"', x) for x in received) if m}
            assert ids == audited and len(received) == len(audited)
            assert all("\tCEF:0|Tencent|Exmail|" in x for x in received)
            assert summary["feeds"]["rsyslog-cef"]["events"] == len(audited)
            assert "rsyslog-cef" in proc.stdout

        # alerts reached the simulated WeCom: robot (customer-service mail) and app (security alerts)
        robot = summary["destinations"].get("wecom robot ops", {})
        assert robot.get("accepted", 0) > 0, summary["destinations"]
        assert summary["deliveries"]["cs-robot (wecom_robot)"].get("delivered", 0) > 0, summary["deliveries"]
        assert summary["alerts_by_rule"]["cs_external_mail"]["firing"] > 0, summary["alerts_by_rule"]
        samples = json.loads((run / "sample-messages.json").read_text())
        assert any("customer-mail.cn" in json.dumps(m["body"], ensure_ascii=False)
                   for m in samples["wecom robot ops"]), samples.get("wecom robot ops")

        # the metric families the issue names were non-zero on the processes' /metrics at some scrape
        missing = {label: m for label, m in summary["required_metrics"].items() if not m["ok"]}
        assert not missing, missing
        polled = {k.split("=", 1)[1] for k in summary["metrics"]["ingest"]["exmail_poll_seconds"]["by_series"]}
        assert polled >= POLLED_STREAMS, polled
        lag = {k.split("=", 1)[1] for k in summary["metrics"]["ingest"]["exmail_poll_lag_seconds"]["by_series"]}
        assert lag >= POLLED_STREAMS, lag
        assert summary["dlq_by_stage"].get("normalize", 0) >= 1, summary["dlq_by_stage"]
        # the operator APIs are locked and work with the generated token (recorded as operator events)
        assert any("anonymous POST refused (401)" in d for d in summary["drill"]), summary["drill"]
        assert not [p for p in summary["problems"] if "operator API" in p], summary["problems"]

        # every child stopped by itself on SIGTERM, and nothing the run started is left
        assert set(summary["children"]) == {"sim", "ingest", "worker"}
        assert all(c["returncode"] == 0 for c in summary["children"].values()), summary["children"]
        assert _processes_mentioning(str(run)) == []

        # secrets only by reference: the generated config, logs and output hold no secret value
        creds = json.loads((run / "sim.json").read_text())
        wecom = creds["surface_settings"]["wecom"]
        api_tokens = [p.read_text().strip() for p in (run / "secrets").glob("api_token_*")]
        assert len(api_tokens) == 4  # one generated token per role, used by the demo's operator drill
        secret_values = [*creds["secrets"].values(), creds["callback_token"], creds["callback_aes_key"],
                         wecom["robots"][0]["key"], wecom["apps"][0]["secret"], *api_tokens]
        readable = [run / "pipeline.yaml", run / "summary.json", run / "sample-messages.json",
                    *run.glob("*.log")]
        for path in readable:
            text = path.read_text(errors="replace")
            assert not [s for s in secret_values if s in text], path
        assert not [s for s in secret_values if s in proc.stdout + proc.stderr]
        for secret_file in (run / "secrets").iterdir():
            assert secret_file.stat().st_mode & 0o077 == 0, secret_file
    finally:
        _delete_run_topics(kafka_bootstrap, summary)
