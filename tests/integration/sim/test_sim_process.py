"""`pipeline sim` as a subprocess over TCP: the documented curl-style sequence (gettoken with the
system_log secret, then POST log/mail) works against it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


def test_sim_process_gettoken_then_log_mail(tmp_path: Path) -> None:
    creds_path = tmp_path / "sim.json"
    cmd = [sys.executable, "-c", "from pipeline.cli import main; main()", "sim", "--port", "0", "--users", "50",
           "--history-hours", "12", "--start", "2026-01-05T12:00:00+08:00", "--credentials-out", str(creds_path)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while not creds_path.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "simulator did not write its credentials file"
            time.sleep(0.1)
        creds = json.loads(creds_path.read_text())
        with httpx.Client(base_url=creds["exmail_base"], timeout=10) as http:
            token = http.get("gettoken", params={"corpid": creds["corp_id"],
                                                 "corpsecret": creds["secrets"]["system_log"]}).json()
            assert token["errcode"] == 0
            resp = http.post("log/mail", params={"access_token": token["access_token"]},
                             json={"begin_date": "2026-01-05", "end_date": "2026-01-05", "mailtype": 0})
            body = resp.json()
            assert body["errcode"] == 0 and len(body["list"]) > 10
            truth = httpx.get(f"{creds['admin_base']}truth/mail_log",
                              params={"date": "2026-01-05", "visible": "visible"}).json()["records"]
            assert len(truth) >= len(body["list"])  # records only ever become visible
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
