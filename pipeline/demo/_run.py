"""One demo run: broker, simulator, ingest and worker wired by the simulator's credentials; live progress; a
clean drain (ingest stops first, the worker catches up); the summary; the exit code.

Everything a run writes goes to demo-output/<timestamp>/: sim.json, pipeline.yaml, secrets/, a log per child,
audit.db, summary.json and sample-messages.json. Topics carry a per-run prefix so every count is this run's.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx
import orjson
from confluent_kafka import KafkaException, Producer

import pipeline
from pipeline import streams
from pipeline.demo._config import DemoConfigError, api_token_file, build_config, write_config
from pipeline.demo._feeds import JSONL_SINK, SYSLOG_SINK, RsyslogPlan, jsonl_feed, rsyslogd_path, syslog_feed
from pipeline.demo._kafka import TopicProbe
from pipeline.demo._processes import Broker, Child, free_port
from pipeline.demo._scrape import MetricsSeen, Scrape, scrape
from pipeline.demo._summary import (
    Check,
    Summary,
    audit_row_count,
    collect_from_broker,
    destination_counts,
    render_summary,
    run_checks,
    sample_messages,
)
from pipeline.demo._view import LiveView, Progress
from pipeline.kafka import TopicNames, bootstrap_from_env, ensure_topics
from pipeline.records import EVENT_SCHEMA, RAW_SCHEMAS
from pipeline.secrets import scrub

EXIT_INTERRUPTED = 130
# settle: how long the drained worker must stay at zero lag with no new alerts or notifications before it is
# stopped; longer than the routes' group_interval, so groups waiting for their next flush get to send
SETTLE_SECONDS = 7.0


@dataclass(frozen=True)
class DemoOptions:
    duration: float | None = 60.0  # None: until Ctrl-C
    output_root: Path = Path("demo-output")
    users: int = 200
    speed: float = 60.0
    seed: int = 1
    history_hours: float = 24.0
    partitions: int = 3
    faults: bool = True
    sim_start: str | None = None
    startup_timeout: float = 180.0
    drain_timeout: float = 90.0


class DemoFailure(RuntimeError):
    """Something the demo needs did not come up or died; the message says what and where the log is."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived: unwind to the clean-up (a BaseException, like KeyboardInterrupt, so no
    `except Exception` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def default_sim_start(utc_offset_minutes: int = 480, hour: int = 9, minute: int = 30) -> str:
    """The latest 09:30 in the corp's timezone that is not in the future: a working-day morning whatever the
    wall clock says, so a one-minute run (one simulated hour at x60) always sees office-hours traffic."""
    tz = timezone(timedelta(minutes=utc_offset_minutes))
    now = datetime.now(tz)
    start = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if start > now:
        start -= timedelta(days=1)
    return start.isoformat()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _clock_text(clock: dict[str, Any]) -> str:
    text = str(clock.get("local") or clock.get("now_iso") or "?")
    return text[:16].replace("T", " ") if len(text) >= 16 else text


class DemoRun:
    def __init__(self, options: DemoOptions, out: TextIO | None = None, tty: bool | None = None) -> None:
        self.opts = options
        self.out = out or sys.stdout
        self.view = LiveView(self.out, self.out.isatty() if tty is None else tty)
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        self.run_dir = self._fresh_dir(options.output_root.resolve(), stamp)
        self.prefix = f"demo{self.run_dir.name.replace('-', '')}."
        self.names = TopicNames(self.prefix)
        self.app_id = f"demo-{self.run_dir.name}-worker"
        self.root = Path(pipeline.__file__).resolve().parents[1]
        self.broker = Broker(self.root, self.run_dir / "kafka.log")
        self.bootstrap = ""
        self.probe: TopicProbe | None = None
        self.http = httpx.Client(timeout=5.0)
        self.sim: Child | None = None
        self.ingest: Child | None = None
        self.worker: Child | None = None
        self.rsyslog: Child | None = None
        self.rsyslog_plan: RsyslogPlan | None = None
        self.console: dict[str, Any] = {}
        self.creds: dict[str, Any] = {}
        self.ingest_url = ""
        self.worker_url = ""
        self.metrics = MetricsSeen()
        self.received: dict[str, Any] = {}
        self.sim_clock: dict[str, Any] = {}
        self.sim_first_clock = ""
        self.drill: list[str] = []
        self.notes: list[str] = []
        self.problems: list[str] = []
        self.live_seconds = 0.0
        self._last: dict[str, Scrape] = {}
        self._done_steps: set[str] = set()
        self._stalls_noted: set[str] = set()
        self.drained: dict[str, Any] = {}
        self._worker_silent_since: float | None = None
        self.stalled_now: list[str] = []
        self._interrupted: int | None = None
        self._live_started = False
        self._stop_signal: int | None = None  # --forever: the signal that ended the live phase (drain + checks follow)
        self._cleaning = False
        self._t0 = time.monotonic()

    @staticmethod
    def _fresh_dir(root: Path, stamp: str) -> Path:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(100):
            candidate = root / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                candidate.mkdir()
            except FileExistsError:
                continue
            return candidate
        raise DemoFailure(f"cannot create a run directory under {root}")

    # ------------------------------------------------------------------ entry point

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        failure: str | None = None
        try:
            self.view.say(f"pipeline demo: run directory {self.run_dir}")
            self._prepare()
            self._start_sim()
            self._start_rsyslog()
            config_path = self._write_config()
            self._start_pipeline(config_path)
            self._live()
            self._drain()
        except Interrupted:
            pass
        except (DemoFailure, DemoConfigError) as exc:
            failure = str(exc)
        except Exception as exc:  # a bug here must still stop the children and print what happened
            (self.run_dir / "demo-error.log").write_text(traceback.format_exc(), encoding="utf-8")
            failure = f"{type(exc).__name__}: {exc} (traceback in {self.run_dir / 'demo-error.log'})"
        finally:
            self._cleaning = True
            summary = self._finish(failure)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.view.say("")
        self.view.say(render_summary(summary))
        if self._interrupted is not None:
            return EXIT_INTERRUPTED
        return 0 if summary.ok else 1

    def _say(self, text: str) -> None:
        self.view.say(f"  [{time.monotonic() - self._t0:5.1f} s] {text}")

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        """--forever's first SIGINT/SIGTERM during the live phase ends the run the way a timed run ends (the live
        loop sees the flag: sources stop, the pipeline drains, the checks decide the exit code); any other
        signal, the second one included, aborts at once."""
        if (self.opts.duration is None and self._live_started and self._stop_signal is None
                and self._interrupted is None and not self._cleaning):
            self._stop_signal = signum
            return
        first = self._interrupted is None
        self._interrupted = self._interrupted or signum
        if first and not self._cleaning:
            raise Interrupted(signum)

    # ------------------------------------------------------------------ start-up

    def _prepare(self) -> None:
        if os.environ.get("EXMAIL_KAFKA_BOOTSTRAP"):
            self.bootstrap = os.environ["EXMAIL_KAFKA_BOOTSTRAP"]
            self._say(f"broker: {self.bootstrap} (EXMAIL_KAFKA_BOOTSTRAP)")
        else:
            self._say("broker: ops/kafka/kafka.sh (reused when running; the first start fetches jars)")
            try:
                self.broker.ensure()
            except RuntimeError as exc:
                raise DemoFailure(str(exc)) from None
            self.bootstrap = bootstrap_from_env()
            self._say(f"broker: {self.bootstrap} ({'started' if self.broker.started else 'reused'})")
        try:
            ensure_topics(self.bootstrap, prefix=self.prefix, partitions=self.opts.partitions)
        except Exception as exc:
            raise DemoFailure(f"cannot create the topics on {self.bootstrap}: {exc}") from None
        self.probe = TopicProbe(self.bootstrap)

    def _start_sim(self) -> None:
        creds_path = self.run_dir / "sim.json"
        o = self.opts
        args = ["sim", "--port", "0", "--seed", str(o.seed), "--users", str(o.users), "--speed", f"{o.speed:g}",
                "--start", o.sim_start or default_sim_start(), "--history-hours", f"{o.history_hours:g}",
                "--credentials-out", str(creds_path), "--log-level", "WARNING"]
        if o.faults:
            # a few Exmail API errors the client retries: 45009 on log queries, -1 (busy) on useroption/get
            args += ["--fault", "kind=errcode,errcode=45009,endpoint=log/*,count=3",
                     "--fault", "kind=errcode,errcode=-1,endpoint=useroption/get,count=2"]
            self.drill.append("simulator: errcode 45009 on the next 3 log/* calls, -1 on the next 2 useroption/get")
        self.sim = Child("sim", args, self.run_dir / "sim.log", self._child_env())
        self.sim.start()
        deadline = time.monotonic() + self.opts.startup_timeout
        while not creds_path.exists():
            self._require_alive(self.sim)
            if time.monotonic() > deadline:
                raise DemoFailure(f"the simulator wrote no credentials file in time (log: {self.sim.log_path})")
            time.sleep(0.2)
        self.creds = orjson.loads(creds_path.read_bytes())
        self._wait_http(self.sim, f"{self.creds['admin_base']}health")
        self.sim_clock = self._admin_get("clock") or {}
        self.sim_first_clock = _clock_text(self.sim_clock)
        self._seed_batch_jobs()
        self._say(f"simulator: {self.creds['base_url']} (pid {self.sim.pid}, {o.users} users, x{o.speed:g}, "
                  f"clock {self.sim_first_clock})")

    def _seed_batch_jobs(self) -> None:
        """Rare log kinds (batch jobs: about 4 a day) get records in yesterday's log so their pollers have some
        (the catalog's SimHook.demo_seed)."""
        today = str(self.sim_clock.get("date") or "")
        seeds = {s.kind: s.sim for s in streams.log_kinds() if s.sim is not None and s.sim.demo_seed}
        if not today or not seeds:
            return
        yesterday = (datetime.fromisoformat(today) - timedelta(days=1)).date().isoformat()
        body: dict[str, Any] = {"day": yesterday, "late_fraction": 0}
        body.update({hook.day_param: hook.demo_seed for hook in seeds.values()})
        if self._admin_post("generate", body) is not None:
            added = ", ".join(f"{hook.demo_seed} {kind}" for kind, hook in seeds.items())
            self._drill(f"{added} records added to {yesterday}'s log (/_sim/generate): the generator makes few a day")

    def _start_rsyslog(self) -> None:
        """Where rsyslog is installed, a private rsyslogd on a free port receives the syslog/CEF feed."""
        program = rsyslogd_path()
        if program is None:
            self._note("rsyslogd is not installed: the syslog/CEF feed is left out (Debian package rsyslog)")
            return
        plan = RsyslogPlan(self.run_dir / "rsyslog", free_port())
        plan.write_conf()
        self.rsyslog = Child("rsyslog", plan.args(), self.run_dir / "rsyslog.log", program=program)
        self.rsyslog.start()
        deadline = time.monotonic() + 20.0
        while not _listening(plan.port):
            self._require_alive(self.rsyslog)
            if time.monotonic() > deadline:
                raise DemoFailure(f"rsyslogd did not listen on {plan.port} (log: {self.rsyslog.log_path})")
            time.sleep(0.1)
        self.rsyslog_plan = plan
        self._say(f"rsyslogd: tcp://127.0.0.1:{plan.port} (pid {self.rsyslog.pid}) receives syslog/CEF "
                  f"into {plan.received}")

    def _collect_feeds(self, audit_rows: int | None) -> dict[str, dict[str, Any]]:
        """Count both feeds once the worker has stopped; rsyslog writes asynchronously, so wait (a few
        seconds at most) until its file holds the audited events or stops growing."""
        feeds = {JSONL_SINK: jsonl_feed(self.run_dir)}
        if self.rsyslog_plan is not None and self.rsyslog is not None:
            deadline, last = time.monotonic() + 10.0, -1
            while True:
                feed = syslog_feed(self.rsyslog_plan)
                if feed["events"] == audit_rows or time.monotonic() > deadline or feed["lines"] == last:
                    break
                last = feed["lines"]
                time.sleep(0.5)
            code = self.rsyslog.stop(10)
            if code not in (0, None):
                self._problem(f"rsyslogd exited with code {code} (log: {self.rsyslog.log_path})")
            feeds[SYSLOG_SINK] = syslog_feed(self.rsyslog_plan)
        return feeds

    def _write_config(self) -> Path:
        ingest_port, worker_port = free_port(), free_port()
        while worker_port == ingest_port:
            worker_port = free_port()
        self.ingest_url = f"http://127.0.0.1:{ingest_port}"
        self.worker_url = f"http://127.0.0.1:{worker_port}"
        config = build_config(creds_path=self.run_dir / "sim.json", creds=self.creds, run_dir=self.run_dir,
                              bootstrap=self.bootstrap, prefix=self.prefix, partitions=self.opts.partitions,
                              app_id=self.app_id, ingest_port=ingest_port, worker_port=worker_port,
                              syslog_port=self.rsyslog_plan.port if self.rsyslog_plan else None)
        path = self.run_dir / "pipeline.yaml"
        write_config(path, config)
        return path

    def _start_pipeline(self, config_path: Path) -> None:
        self.worker = Child("worker", ["worker", "--config", str(config_path)],
                            self.run_dir / "worker.log", self._child_env())
        self.ingest = Child("ingest", ["ingest", "--config", str(config_path)], self.run_dir / "ingest.log",
                            self._child_env())
        self.worker.start()
        self.ingest.start()
        self._wait_http(self.ingest, f"{self.ingest_url}/healthz")
        self._say(f"ingest: {self.ingest_url}/metrics (pid {self.ingest.pid})")
        self._wait_http(self.worker, f"{self.worker_url}/healthz")
        self._say(f"worker: {self.worker_url}/metrics (pid {self.worker.pid}; normalize, audit, siem, alerting, "
                  "delivery)")
        operator = api_token_file(self.run_dir, "operator")
        self._say(f"API tokens (viewer/operator/approver/admin): {operator.parent}/api_token_<role>; e.g. "
                  f"EXMAIL_API_TOKEN=$(cat {operator}) pipeline silence list --url {self.worker_url}/alerting")
        # the token itself is never printed (secrets stay out of output and logs): its owner-only file is
        admin = api_token_file(self.run_dir, "admin")
        self._say(f"console: {self.worker_url}/console/ — log in as demo-admin by pasting the token from "
                  f"`cat {admin}` (viewer/operator/approver tokens sit next to it)")
        self.console = self._try_console(admin)
        url = f"{self.ingest_url}/exmail/callback/sim"
        answer = self._admin_post("callback", {"url": url, "verify": True})
        if answer and answer.get("errcode") == 0:
            self._note(f"simulator pushes new mail to {url} (URL verification passed)")
        else:
            self._problem(f"callback registration failed: {answer}; new mail still arrives by newcount polling")

    def _try_console(self, token_file: Path) -> dict[str, Any]:
        """Log in to the console the way a browser does (login form, session cookie) and open the Alerts
        page, so the summary says whether the console was usable during the run."""
        base = f"{self.worker_url}/console"
        try:
            with httpx.Client(timeout=10.0) as browser:
                form = browser.get(f"{base}/login")
                nonce = re.search(r'name="csrf" value="([^"]+)"', form.text)
                answer = browser.post(f"{base}/login", data={
                    "csrf": nonce.group(1) if nonce else "", "next": "/console/alerts",
                    "token": token_file.read_text(encoding="utf-8").strip()}, follow_redirects=True)
                ok = answer.status_code == 200 and 'id="principal">demo-admin<' in answer.text
                detail = f"login -> {answer.url.path} {answer.status_code}"
        except httpx.HTTPError as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        if not ok:
            self._problem(f"the console at {base}/ did not let demo-admin in ({detail})")
        return {"url": f"{base}/", "ok": ok, "detail": detail}

    def _child_env(self) -> dict[str, str]:
        """Children run in the run dir; this package must stay importable from there."""
        path = [str(self.root), *filter(None, [os.environ.get("PYTHONPATH")])]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}

    def _wait_http(self, child: Child, url: str) -> None:
        deadline = time.monotonic() + self.opts.startup_timeout
        while True:
            self._require_alive(child)
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get(url, timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise DemoFailure(f"{child.name} did not become healthy at {url} within "
                                  f"{self.opts.startup_timeout:.0f} s (log: {child.log_path})")
            time.sleep(0.3)

    def _require_alive(self, child: Child | None) -> None:
        if child is not None and child.proc is not None and not child.alive():
            raise DemoFailure(f"{child.name} exited with code {child.returncode} (log: {child.log_path}):\n"
                              + child.tail(2000))

    # ------------------------------------------------------------------ the live phase

    def _live(self) -> None:
        started = time.monotonic()
        duration = self.opts.duration
        self._live_started = True
        while True:
            elapsed = time.monotonic() - started
            self.live_seconds = elapsed
            if duration is not None and elapsed >= duration:
                break
            if self._stop_signal is not None:
                self._say(f"{signal.Signals(self._stop_signal).name}: ending the run: ingest stops, the worker "
                          f"drains (up to {self.opts.drain_timeout:.0f} s), then the summary checks; press Ctrl-C "
                          "again to abort at once")
                break
            for child in (self.sim, self.ingest, self.worker):
                self._require_alive(child)
            self._traffic(elapsed)
            self.view.show(self._progress(elapsed, "running"))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - started - elapsed)))

    def _once(self, step: str, due: float, elapsed: float) -> bool:
        if elapsed < due or step in self._done_steps:
            return False
        self._done_steps.add(step)
        return True

    def _traffic(self, elapsed: float) -> None:
        """Mail to the customer-service box from outside, a login from a new IP, and (unless --no-faults) a
        fault drill that makes the error paths visible: forged callbacks, a malformed record, token expiry,
        a WeCom rate-limit answer."""
        service = str(self.creds["service_mailbox"])
        for k in range(5):
            if self._once(f"cs-mail-{k}", 2.0 + 6.0 * k, elapsed):
                self._deliver_cs_mail(service, k)
        if self.opts.duration is None and self._once(f"cs-mail-periodic-{int(elapsed // 20)}", 40.0, elapsed):
            self._deliver_cs_mail(service, int(elapsed // 20))
        if self._once("new-ip-login", 5.0, elapsed):
            self._new_ip_login()
        if self._once("batch-job", 12.0, elapsed):
            self._batch_job()
        if self._once("operator-api", 3.0, elapsed):
            self._operator_api()
        if not self.opts.faults:
            return
        if self._once("forged-callbacks", 1.0, elapsed):
            self._forged_callbacks()
        if self._once("malformed-hr", 1.5, elapsed):
            self._malformed_hr_record()
        if self._once("robot-45009", 1.0, elapsed):
            self._wecom_fault({"kind": "errcode", "endpoint": "robot_send", "errcode": 45009,
                               "errmsg": "api freq out of limit", "count": 1},
                              "WeCom robot answers 45009 (rate limited) once: the sink backs off and retries")
        if self._once("exmail-token-expiry", 10.0, elapsed):
            answer = self._admin_post("tokens/expire", {"mode": "expire"})
            self._drill(f"Exmail access tokens expired ({(answer or {}).get('affected', '?')} tokens): the "
                        "client refetches them after errcode 40014")
        if self._once("wecom-app-token-expiry", 20.0, elapsed):
            self._wecom_fault({"kind": "expire_tokens"},
                              "WeCom app tokens expired: the next send gets 42001 and refreshes its token")

    def _operator_api(self) -> None:
        """The silences API is locked: anonymous is refused; the generated operator token creates and expires
        a silence (recorded with its principal, and as operator events in the audit trail)."""
        url = f"{self.worker_url}/alerting/api/silences"
        body = {"matchers": ['alertname="demo_operator_drill"'], "duration": "2m",
                "comment": "demo: the silences API with an operator token"}
        token = api_token_file(self.run_dir, "operator").read_text(encoding="utf-8").strip()
        auth = {"Authorization": f"Bearer {token}"}
        try:
            anonymous = self.http.post(url, json=body, timeout=10.0)
            created = self.http.post(url, json=body, headers=auth, timeout=15.0)
            sid = created.json().get("silence_id") if created.status_code == 200 else None
            expired = self.http.delete(f"{url}/{sid}", headers=auth, timeout=15.0) if sid else None
        except (httpx.HTTPError, ValueError) as exc:
            self._problem(f"operator API drill failed: {type(exc).__name__}")
            return
        if anonymous.status_code == 401 and sid and expired is not None and expired.status_code == 200:
            self._drill("silences API: anonymous POST refused (401); demo-operator created and expired a "
                        f"silence ({sid[:8]}), recorded as operator events on exmail.actions")
        else:
            self._problem(f"operator API drill: anonymous {anonymous.status_code}, create {created.status_code}, "
                          f"expire {expired.status_code if expired is not None else '-'}")

    def _deliver_cs_mail(self, service: str, k: int) -> None:
        subjects = ["订单 1042 还没有发货", "Invoice request for PO 7731", "退货申请：型号 X200", "Partnership inquiry",
                    "账户无法登录，请协助"]
        body = {"userid": service, "from": f"buyer{k}@customer-mail.cn", "subject": subjects[k % len(subjects)],
                "push": True}
        if self._admin_post("mail/deliver", body) is not None:
            self._note(f"mail from buyer{k}@customer-mail.cn delivered to {service} (push + newcount)")

    def _new_ip_login(self) -> None:
        user = str((self.creds.get("admins") or [self.creds["service_mailbox"]])[-1])
        now = int(float((self._admin_get("clock") or {}).get("now", time.time())))
        for ip, at in (("198.51.100.23", now - 120), ("203.0.113.45", now)):
            self._admin_post("logs", {"kind": "login_log", "userid": user,
                                      "record": {"time": at, "ip": ip, "type": 1}})
        self._note(f"logins of {user} from 198.51.100.23 and 203.0.113.45 injected (login_new_ip)")

    def _batch_job(self) -> None:
        operator = str((self.creds.get("admins") or ["admin"])[0])
        now = int(float((self._admin_get("clock") or {}).get("now", time.time())))
        record = {"time": now, "operator": operator, "type": 1, "status": 0}
        if self._admin_post("logs", {"kind": "batchjob_log", "record": record}) is not None:
            self._note(f"a batch job by {operator} finished now (batchjob_log)")

    def _forged_callbacks(self) -> None:
        now = int(time.time())
        url = f"{self.ingest_url}/exmail/callback/sim"
        body = b"<xml><Encrypt>Zm9yZ2VkIGJ5IHRoZSBkZW1v</Encrypt></xml>"
        answers = []
        for ts, nonce in ((now, "demo-forged"), (now - 3600, "demo-replayed")):
            with contextlib.suppress(httpx.HTTPError):
                r = self.http.post(url, params={"msg_signature": "0" * 40, "timestamp": str(ts), "nonce": nonce},
                                   content=body)
                answers.append(f"{r.status_code} {r.text.split(':', 1)[0].strip()}")
        self._drill(f"two forged callback pushes (bad signature, hour-old timestamp) -> {', '.join(answers)}")

    def _malformed_hr_record(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "log_level": 3})
        producer.produce(self.names.hr_lifecycle, key=b"demo/malformed",
                         value=b'{"schema": "hr.lifecycle/1", "note": "malformed on purpose by pipeline demo"}')
        left = producer.flush(10)
        self._drill("one malformed record on hr.lifecycle: normalize dead-letters it to exmail.dlq"
                    + (" (not delivered!)" if left else ""))

    def _wecom_fault(self, fault: dict[str, Any], text: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            r = self.http.post(f"{self.creds['base_url']}/wecom/_sim/faults", json=fault)
            if r.status_code == 200:
                self._drill(text)
                return
        self._problem(f"could not inject the WeCom fault {fault['kind']}")

    def _drill(self, text: str) -> None:
        self.drill.append(text)
        self._note(text)

    def _note(self, text: str) -> None:
        self.notes.append(text)

    def _problem(self, text: str) -> None:
        self.problems.append(text)
        self._note(text)

    def _admin_get(self, path: str) -> Any:
        with contextlib.suppress(httpx.HTTPError, orjson.JSONDecodeError):
            r = self.http.get(f"{self.creds['admin_base']}{path}")
            if r.status_code == 200:
                return orjson.loads(r.content)
        return None

    def _admin_post(self, path: str, body: dict[str, Any]) -> Any:
        with contextlib.suppress(httpx.HTTPError, orjson.JSONDecodeError):
            r = self.http.post(f"{self.creds['admin_base']}{path}", json=body)
            if r.status_code < 300:
                return orjson.loads(r.content) if r.content else {}
            self._note(f"simulator refused {path}: {r.status_code} {r.text[:200]}")
        return None

    # ------------------------------------------------------------------ observing

    def _scrape_all(self) -> None:
        for name, child, base in (("ingest", self.ingest, self.ingest_url), ("worker", self.worker, self.worker_url)):
            if child is None or not child.alive() or not base:
                continue
            data = scrape(self.http, f"{base}/metrics")
            if data is not None:
                self._last[name] = data
                self.metrics.add(name, data)
        if self.sim is not None and self.sim.alive() and self.creds:
            received = self._admin_get("received")
            if isinstance(received, dict):
                self.received = received
            clock = self._admin_get("clock")
            if isinstance(clock, dict):
                self.sim_clock = clock

    def _progress(self, elapsed: float, phase: str) -> Progress:
        self._scrape_all()
        ingest, worker = self._last.get("ingest", {}), self._last.get("worker", {})
        p = Progress(elapsed=elapsed, duration=self.opts.duration, phase=phase,
                     sim_clock=_clock_text(self.sim_clock))
        if fam := ingest.get("exmail_records_produced_total"):
            for (stream,), n in fam.by("stream").items():
                key = "new_mail" if stream in ("callback", "newcount") else stream
                p.produced[key] = p.produced.get(key, 0) + n
        if fam := ingest.get("exmail_api_errors_total"):
            p.api_errors = {code: n for (code,), n in fam.by("errcode").items()}
        if fam := ingest.get("exmail_callback_rejections_total"):
            p.callback_rejections = {reason: n for (reason,), n in fam.by("reason").items()}
        if fam := worker.get("exmail_transform_records_total"):
            p.normalized = fam.by("transform", "outcome").get(("normalize", "ok"), 0.0)
        if fam := worker.get("exmail_alerts_total"):
            p.alerts = {rule: n for (rule,), n in fam.by("rule").items()}
        if fam := worker.get("exmail_notifications_total"):
            p.notifications = {r: n for (r,), n in fam.by("receiver").items()}
        if fam := worker.get("exmail_deliveries_total"):
            for (receiver, outcome), n in fam.by("receiver", "outcome").items():
                p.deliveries.setdefault(receiver, {})[outcome] = n
        if fam := worker.get("exmail_dlq_records_total"):
            p.dlq = fam.total
        waiting = worker.get("exmail_delivery_backlog_notifications")
        oldest = worker.get("exmail_delivery_backlog_oldest_seconds")
        if waiting:
            ages = oldest.by("receiver") if oldest else {}
            p.backlog = {r: (n, ages.get((r,), 0.0)) for (r,), n in waiting.by("receiver").items()}
        for name, by in destination_counts(self.received).items():
            if by.get("accepted"):
                p.destinations[name] = by["accepted"]
        p.audit_rows = audit_row_count(self.run_dir / "audit.db") or 0
        p.stalled = self._stalled_stages()
        p.notes = self.notes
        return p

    def _stalled_stages(self) -> list[str]:
        """The worker's own word on stuck partitions (its /healthz), each named once in the notes as well."""
        if not self.worker_url:
            return []
        try:
            body = self.http.get(f"{self.worker_url}/healthz").json()
            self._worker_silent_since = None
        except (httpx.HTTPError, ValueError):
            # a worker whose loop is blocked answers nothing at all: say so instead of showing old numbers
            now = time.monotonic()
            self._worker_silent_since = self._worker_silent_since or now
            silent = now - self._worker_silent_since
            if silent < 10:
                return []
            if "worker /healthz" not in self._stalls_noted:
                self._stalls_noted.add("worker /healthz")
                self.notes.append("worker not answering /healthz (event loop blocked? see worker.log)")
            return [f"worker not answering /healthz for {silent:.0f} s"]
        out = []
        for s in body.get("stalled") or []:
            where = f"{s['stage']} {str(s['topic']).removeprefix(self.prefix)}[{s['partition']}]"
            out.append(f"{where}: {s['lag']} behind, no progress for {s['seconds']:.0f} s")
            if where not in self._stalls_noted:
                self._stalls_noted.add(where)
                self.notes.append(f"worker stalled at {where} (see worker.log)")
        self.stalled_now = out
        return out

    # ------------------------------------------------------------------ the end

    def _consumed_topics(self) -> list[str]:
        """What the faust agents of the demo's worker read (rules) in the app's own group."""
        n = self.names
        return [n.events]

    def _batch_groups(self) -> dict[str, list[str]]:
        """The worker's batch units (pipeline/worker/app.py): group "<app_id>.<unit>" -> the topics it reads."""
        n = self.names
        groups = {f"{self.app_id}.normalize": [*(n.raw(k) for k in RAW_SCHEMAS), n.hr_lifecycle],
                  f"{self.app_id}-dispatch": [n.alerts],
                  f"{self.app_id}-delivery": [n.notifications],
                  f"{self.app_id}.audit": [n.events, n.actions]}
        for name in (JSONL_SINK, *([SYSLOG_SINK] if self.rsyslog_plan is not None else [])):
            groups[f"{self.app_id}.siem-{name}"] = [n.events]
        return groups

    def _drain(self) -> None:
        """Stop ingest (it flushes), then wait until the worker has committed everything and no alert group is
        still due to flush."""
        assert self.ingest is not None and self.probe is not None
        started = time.monotonic()
        self.view.show(self._progress(self.live_seconds, "stopping ingest"))
        code = self.ingest.stop(45)
        if code not in (0, None):
            self._problem(f"ingest exited with code {code} (log: {self.ingest.log_path})")
        self._admin_delete("callback")
        watched = [self.names.events, self.names.alerts, self.names.notifications, self.names.deliveries]
        stable_since: float | None = None
        marks: dict[str, int] = {}
        while True:
            now = time.monotonic()
            self._require_alive(self.worker)
            unanswered = ""
            try:
                lag, by_stage = self._lag_by_stage()
                current = self.probe.counts(watched)
            except KafkaException as exc:
                # a busy or just-restarted broker times out or names no leader for a moment: unknown is not
                # caught up, so ask again (the drain timeout still bounds the wait)
                unanswered = f"the broker did not answer ({exc})"
                lag, by_stage, current = {unanswered: 1}, {}, {}
            behind = sum(lag.values())
            if behind:
                stable_since = None
            elif current != marks or stable_since is None:
                stable_since = now
            elif now - stable_since >= SETTLE_SECONDS:
                self.drained = {"ok": True, "detail": f"every consumer group committed everything after "
                                                      f"{now - started:.0f} s", "lag_by_stage": by_stage}
                break
            marks = current
            if now - started > self.opts.drain_timeout:
                late = {t.removeprefix(self.prefix): v for t, v in lag.items() if v}
                stalled = self._stalled_stages()
                stuck = "; stalled: " + "; ".join(stalled) if stalled else ""
                self._problem(f"worker still behind after {self.opts.drain_timeout:.0f} s: {late}{stuck}")
                self.drained = {"ok": False, "detail": f"still behind after {self.opts.drain_timeout:.0f} s: "
                                                       f"{late}{stuck}", "lag_by_stage": by_stage}
                break
            waited = f"{now - started:.0f} s"
            phase = (f"draining ({waited}): {unanswered}" if unanswered
                     else f"draining ({waited}): worker lag {behind}" if behind
                     else f"draining ({waited}): letting alert groups flush")
            self.view.show(self._progress(self.live_seconds, phase))
            time.sleep(1.0)
        self.view.show(self._progress(self.live_seconds, "drained"), force=True)

    def _lag_by_stage(self) -> tuple[dict[str, int], dict[str, int]]:
        """Uncommitted records per topic over every consumer group of the worker, and the total per stage."""
        assert self.probe is not None
        lag = self.probe.lag(self.app_id, self._consumed_topics())
        by_stage = {"rules": sum(lag.values())}
        for group, topics in self._batch_groups().items():  # audit and SIEM units commit in groups of their own
            stage_lag = self.probe.lag(group, topics)
            by_stage[group.removeprefix(self.app_id).lstrip(".-")] = sum(stage_lag.values())
            for topic, n in stage_lag.items():
                lag[topic] = lag.get(topic, 0) + n
        return lag, by_stage

    def _admin_delete(self, path: str) -> None:
        with contextlib.suppress(httpx.HTTPError):
            self.http.delete(f"{self.creds['admin_base']}{path}")

    def _finish(self, failure: str | None) -> Summary:
        """Stop the children, count everything, write summary.json and sample-messages.json, stop the broker if
        the demo started it. Runs after success, failure and interruption alike."""
        self.view.release()
        if self._interrupted is not None:
            self.view.say(f"\n{signal.Signals(self._interrupted).name}: stopping everything this demo started")
        with contextlib.suppress(Exception):
            self._scrape_all()
        children: dict[str, dict[str, Any]] = {}
        for child, timeout in ((self.ingest, 45.0), (self.worker, 45.0), (self.sim, 15.0)):
            if child is None:
                continue
            code = child.stop(timeout)
            children[child.name] = {"pid": child.pid, "returncode": code, "log": str(child.log_path)}
        summary = Summary(run_dir=str(self.run_dir), topic_prefix=self.prefix, app_id=self.app_id,
                          live_seconds=round(self.live_seconds, 1), interrupted=self._interrupted is not None,
                          stopped_by=signal.Signals(self._stop_signal).name if self._stop_signal else None,
                          failure=failure, drill=self.drill, children=children)
        summary.sim = {"start": self.sim_first_clock, "end": _clock_text(self.sim_clock),
                       "speed": self.opts.speed, "users": self.opts.users, "seed": self.opts.seed,
                       "base_url": self.creds.get("base_url")}
        summary.destinations = destination_counts(self.received)
        summary.metrics = self.metrics.best
        summary.required_metrics = self.metrics.required()
        summary.audit_rows = audit_row_count(self.run_dir / "audit.db")
        summary.console = self.console
        summary.drained = self.drained
        summary.audit_event_rows = audit_row_count(self.run_dir / "audit.db", EVENT_SCHEMA)
        summary.feeds = self._collect_feeds(summary.audit_event_rows)
        samples = self.run_dir / "sample-messages.json"
        # the received messages carry live SSO links and the summary names paths: nothing live leaves the run
        samples.write_bytes(orjson.dumps(scrub(sample_messages(self.received)), option=orjson.OPT_INDENT_2))
        if self.probe is not None:
            for attempt in range(4):  # a busy broker may time out or briefly name no leader: ask again
                try:
                    collect_from_broker(summary, self.probe, self.names)
                    break
                except Exception as exc:
                    if attempt == 3:
                        summary.problems.append(f"could not read the run's topics: {type(exc).__name__}: {exc}")
                    else:
                        time.sleep(3.0)
            self.probe.close()
        if self._interrupted is None and failure is None:
            summary.checks = run_checks(summary)
        elif failure is None:
            summary.checks = [Check("run completed", False, "interrupted before the end; counts are partial")]
        summary.problems += self.problems
        summary.problems += [f"the worker stalled at {where} during the run (its /healthz named it; see worker.log)"
                             for where in sorted(self._stalls_noted)]
        summary.paths = {"run_dir": str(self.run_dir), "audit_db": str(self.run_dir / "audit.db"),
                         "sample_messages": str(samples), "summary": str(self.run_dir / "summary.json"),
                         "config": str(self.run_dir / "pipeline.yaml")}
        self.http.close()
        if self.broker.started:
            self.view.say("stopping the Kafka broker this demo started")
            self.broker.stop_if_started()
        (self.run_dir / "summary.json").write_bytes(summary.to_json())
        return summary
