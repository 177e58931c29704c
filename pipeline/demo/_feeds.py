"""The SOC's feeds of a demo run: the JSON-lines file the SIEM agent writes into the run dir, and, where rsyslog
is installed, syslog/CEF to a private rsyslogd the demo starts (TCP on a free port, one line per message).

Both are counted at the end by distinct event id, which must equal the audit rows: the same events, once each.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.sinks.jsonl_file import JsonlFileSinkConfig, count_events

FEED_DIR = "siem-feed"
JSONL_SINK, SYSLOG_SINK = "jsonl-feed", "rsyslog-cef"
# rsyslog writes the structured data (it carries the event id) and the CEF message of every message it parsed
RSYSLOG_TEMPLATE = "%structured-data%\\t%msg%\\n"
_SD_ID = re.compile(r'\bid="((?:[^"\\]|\\.)*)"')


def rsyslogd_path() -> str | None:
    found = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    return found if os.access(found, os.X_OK) else None


@dataclass(frozen=True)
class RsyslogPlan:
    """A private rsyslogd: its config, received-messages file and pid file all live in `directory`."""

    directory: Path
    port: int

    @property
    def conf(self) -> Path:
        return self.directory / "rsyslog.conf"

    @property
    def received(self) -> Path:
        return self.directory / "received.log"

    def args(self) -> list[str]:
        return ["-n", "-f", str(self.conf), "-i", str(self.directory / "rsyslogd.pid")]

    def write_conf(self) -> None:
        (self.directory / "work").mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            f'global(workDirectory="{self.directory / "work"}")',
            'module(load="imtcp")',
            f'input(type="imtcp" port="{self.port}" address="127.0.0.1")',
            f'template(name="demo" type="string" string="{RSYSLOG_TEMPLATE}")',
            f'action(type="omfile" file="{self.received}" template="demo")',
        ]) + "\n", encoding="utf-8")


def siem_section(run_dir: Path, syslog_port: int | None) -> list[dict[str, Any]]:
    """The worker.siem entries of the demo config."""
    sinks: list[dict[str, Any]] = [{"kind": "jsonl_file", "name": JSONL_SINK, "directory": str(run_dir / FEED_DIR),
                                    "basename": "exmail-events", "rotate_bytes": 16 * 1024 * 1024,
                                    "rotate_seconds": 600}]
    if syslog_port is not None:
        sinks.append({"kind": "syslog", "name": SYSLOG_SINK, "host": "127.0.0.1", "port": syslog_port,
                      "transport": "tcp", "format": "cef"})
    return sinks


def jsonl_feed(run_dir: Path) -> dict[str, Any]:
    """{"path", "lines", "events"} of the JSON-lines feed (events = distinct event ids)."""
    cfg = JsonlFileSinkConfig(directory=run_dir / FEED_DIR)
    try:
        lines, events = count_events(cfg)
    except (OSError, ValueError) as exc:
        return {"path": str(cfg.directory), "lines": None, "events": None, "error": str(exc)}
    return {"path": str(cfg.directory / "exmail-events.ndjson"), "lines": lines, "events": events}


def syslog_feed(plan: RsyslogPlan) -> dict[str, Any]:
    """{"path", "lines", "events"} of what rsyslogd received (events = distinct `id` SD parameters)."""
    try:
        text = plan.received.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    lines = [x for x in text.splitlines() if x.strip()]
    ids = {m.group(1) for m in map(_SD_ID.search, lines) if m is not None}
    cef = sum(1 for x in lines if "\tCEF:0|" in x)
    return {"path": str(plan.received), "lines": len(lines), "events": len(ids), "cef_lines": cef,
            "receiver": f"rsyslogd tcp://127.0.0.1:{plan.port}"}
