"""The pipeline.yaml of one demo run, generated from the simulator's credentials file.

Ingest polls the simulator on short intervals (so re-polls, dedup hits and new records show within a minute) and
follows its fast clock; the worker writes the audit trail to SQLite and routes alerts of the default rule pack
to the simulated WeCom robot (customer-service mail), the simulated WeCom app and the simulator's generic
webhook receiver (everything else). Every secret is a `file:` reference to an owner-only file in the run dir.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import yaml

from pipeline import streams
from pipeline.config import check_config
from pipeline.demo._feeds import siem_section
from pipeline.sources.config import config_from_sim_credentials

CS_ROBOT, SECURITY_APP, OA_WEBHOOK = "cs-robot", "security-app", "oa-webhook"
WEBHOOK_PATH = "oa/alerts"
CS_RULE = "cs_external_mail"
# wall-clock seconds between poller runs: short, so a one-minute demo sees every poller run more than once
# (1/40 of the catalog's default, within 5..30 s: mail 5 s, login 15 s, hourly pollers 30 s)
POLL_INTERVALS = {s.poller: min(30.0, max(5.0, s.interval / 40)) for s in streams.polled()
                  if s.poller is not None and s.interval is not None}


class DemoConfigError(RuntimeError):
    """The generated config does not validate (a bug in the demo or a changed config schema)."""


def write_secret(directory: Path, name: str, value: str) -> str:
    """Write a secret to an owner-only file and return its `file:` reference."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = directory / name
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return f"file:{target}"


def _ingest_section(creds_path: Path, secret_dir: Path, port: int) -> dict[str, Any]:
    sso_ref = write_secret(secret_dir, "sso_link_key", secrets.token_urlsafe(32))
    ingest = config_from_sim_credentials(
        creds_path,
        poll={"intervals": POLL_INTERVALS, "directory_baseline_events": True},
        http={"host": "127.0.0.1", "port": port},
        sso={"secret": sso_ref, "path": "/sso"},
        shutdown_grace_seconds=10.0,
    )
    section: dict[str, Any] = ingest.model_dump(mode="json", exclude={"kafka"}, exclude_defaults=True)
    # the simulator has no per-app QPS limit by default: let the per-user pollers (login, options) finish fast
    for corp in section["corps"]:
        corp["client"] = {"corp_rate": 60.0, "corp_burst": 60, "app_rate": 30.0, "app_burst": 30}
    return section


def _routing(creds: dict[str, Any], secret_dir: Path) -> dict[str, Any]:
    wecom = (creds.get("surface_settings") or {}).get("wecom")
    if not wecom or "receiver" not in (creds.get("mounted_surfaces") or []):
        raise DemoConfigError("the simulator did not mount its WeCom and webhook-receiver surfaces "
                              f"(mounted: {creds.get('mounted_surfaces')})")
    robot, app = wecom["robots"][0], wecom["apps"][0]
    base = str(creds["base_url"]).rstrip("/")
    not_cs = f'alertname!="{CS_RULE}"'
    return {
        "route": {
            "receiver": OA_WEBHOOK, "group_by": ["alertname"], "group_wait": "2s", "group_interval": "10s",
            "repeat_interval": "4h",
            "routes": [
                {"matchers": [f'alertname="{CS_RULE}"'], "receiver": CS_ROBOT, "group_by": ["alertname", "user"],
                 "group_wait": "0s", "group_interval": "5s"},
                {"matchers": [not_cs], "receiver": SECURITY_APP, "continue": True},
                {"matchers": [not_cs], "receiver": OA_WEBHOOK},
            ],
        },
        "receivers": [
            {"name": CS_ROBOT, "kind": "wecom_robot", "base_url": f"{base}/wecom",
             "key": write_secret(secret_dir, "wecom_robot_key", str(robot["key"]))},
            {"name": SECURITY_APP, "kind": "wecom_app", "base_url": f"{base}/wecom",
             "corp_id": str(wecom["corp_id"]), "agent_id": int(app["agent_id"]),
             "secret": write_secret(secret_dir, "wecom_app_secret", str(app["secret"])),
             "to_users": [str(wecom["users"][0])], "user_rule": "same", "notify_recipients": False},
            {"name": OA_WEBHOOK, "kind": "webhook", "url": f"{base}/receiver/{WEBHOOK_PATH}",
             "secret": write_secret(secret_dir, "webhook_signing_secret", secrets.token_urlsafe(32))},
        ],
    }


DEMO_ROLES = ("viewer", "operator", "approver", "admin")


def api_token_file(run_dir: Path, role: str) -> Path:
    """Where the demo keeps the bearer token of the `demo-<role>` principal (owner-only)."""
    return run_dir / "secrets" / f"api_token_{role}"


def _auth_section(secret_dir: Path) -> dict[str, Any]:
    """One generated bearer token per role; the HTTP APIs of ingest and worker refuse anything else."""
    return {"tokens": [{"name": f"demo-{role}", "roles": [role],
                        "token": write_secret(secret_dir, f"api_token_{role}", secrets.token_urlsafe(32))}
                       for role in DEMO_ROLES]}


def build_config(*, creds_path: Path, creds: dict[str, Any], run_dir: Path, bootstrap: str, prefix: str,
                 partitions: int, app_id: str, ingest_port: int, worker_port: int,
                 syslog_port: int | None = None) -> dict[str, Any]:
    """The whole pipeline.yaml as a dict (ingest, worker and alerting sections share the kafka and auth
    sections). `syslog_port`: a local rsyslogd the SIEM agent sends CEF to (None: the JSON-lines feed only)."""
    secret_dir = run_dir / "secrets"
    ingest = _ingest_section(creds_path, secret_dir, ingest_port)
    sso_secret = ingest["sso"]["secret"]
    return {
        "kafka": {"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": partitions},
        "auth": _auth_section(secret_dir),
        "ingest": ingest,
        "worker": {
            "app_id": app_id, "instance_id": f"{app_id}-1",
            "agents": ["normalize", "audit", "siem", "alerting", "delivery"],
            "http_host": "127.0.0.1", "http_port": worker_port,
            "audit": {"kind": "sqlite", "path": str(run_dir / "audit.db")},
            "siem": siem_section(run_dir, syslog_port),
            "console": {"ingest_url": f"http://127.0.0.1:{ingest_port}"},
            # a demo run lasts minutes: name a stuck stage after 30 s, not the production default of 120 s
            "stall_seconds": 30, "lag_probe_seconds": 2,
        },
        "alerting": {
            # the default rule pack; a 12 h IP warm-up instead of 7 d so the simulator's day of history
            # teaches each user's IPs and the live hour can raise login_new_ip
            "rules": {"params": {"cs_mailboxes": [creds["service_mailbox"]], "new_ip_warmup": "12h"}},
            "corp_domains": {str(creds["corp_id"]): [str(creds["domain"])]},
            "routing": _routing(creds, secret_dir),
            "sso": {"base_url": f"http://127.0.0.1:{ingest_port}/sso", "secret": sso_secret},
        },
    }


def write_config(path: Path, config: dict[str, Any]) -> None:
    """Write the YAML and validate it like `pipeline check-config --resolve-secrets` would."""
    header = "# generated by `pipeline demo` for this run; secrets are file: references (owner-only files)\n"
    path.write_text(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8")
    issues = [i for i in check_config(path, resolve_secrets=True) if not i.warning]
    if issues:
        raise DemoConfigError(f"{path}: generated config is invalid:\n" + "\n".join(f"  - {i}" for i in issues))
