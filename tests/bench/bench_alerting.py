"""Micro-benchmark of the alerting core (not collected by pytest). Run: .venv/bin/python tests/bench/bench_alerting.py

Reports
  * dispatch throughput: 5,000 alerts in distinct groups on a group_wait 0 route (each ingest returns its
    notification inline), with and without encoding the notification envelope;
  * rule evaluation cost per event for the default pack over a realistic event mix.
Best of several rounds, on fresh state each round. CPU time of this process only (no Kafka, no network).
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from pipeline.envelope import Envelope, utc_iso
from pipeline.transforms.routing import Dispatcher, parse_routing_config
from pipeline.transforms.rules import Alert, MemoryRuleState, RuleEngine, load_default_rules

T0 = 1_800_000_000.0


def bench_dispatch(n: int, rounds: int, encode: bool) -> tuple[float, float]:
    cfg = parse_routing_config({
        "route": {"receiver": "default", "group_by": ["alertname", "corp", "user"], "group_wait": "30s",
                  "routes": [{"matchers": ['severity=~"warning|critical"'], "receiver": "wecom", "group_wait": "0s"}]},
        "receivers": [{"name": "default"}, {"name": "wecom", "send_resolved": True}],
        "inhibit_rules": [{"source_matchers": ['alertname="pipeline_gap"'], "target_matchers": ['severity="info"'],
                           "equal": ["corp"]}],
    })
    alerts = [Alert(labels={"alertname": "login_new_ip", "severity": "warning", "corp": "c1",
                            "user": f"user{i}@acme.com", "ip": f"10.0.{i // 256}.{i % 256}"},
                    annotations={"summary": f"user{i}@acme.com logged in from a new IP",
                                 "summary_zh": f"user{i}@acme.com 从新的 IP 登录"},
                    starts_at=T0, ends_at=T0 + 300, rule="login_new_ip", event_ids=[f"e{i}"])
              for i in range(n)]
    best = float("inf")
    for _ in range(rounds):
        d = Dispatcher(cfg, MemoryRuleState())
        start = time.perf_counter()
        sent = 0
        for i, alert in enumerate(alerts):
            for note in d.ingest(alert, T0 + i * 1e-4):
                sent += 1
                if encode:
                    note.to_envelope().encode()
        elapsed = time.perf_counter() - start
        assert sent == n, f"expected {n} inline notifications, got {sent}"
        best = min(best, elapsed)
    return n / best, best / n * 1e6


def events(n: int, users: int, noisy: bool, seed: int = 7) -> list[Envelope]:
    """A mix of mail, login, new-mail, admin, options and pipeline-error events. `noisy`: users log in from
    many IPs and sends fail often (about a third of events raise an alert); otherwise each user keeps one IP
    with a 1% chance of a new one and sends rarely fail (a few percent raise one)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        t = T0 + i * 0.5
        k = rng.randrange(users)
        u = f"user{k}@acme.com"
        roll = rng.random()
        doc: dict[str, Any]
        if roll < 0.55:
            ext = rng.random() < 0.4
            to = f"x{rng.randrange(50)}@{'gmail.com' if ext else 'acme.com'}"
            doc = {"event": {"dataset": "exmail.mail_log", "outcome": "success"}, "user": {"email": u},
                   "email": {"from": {"address": [u]}, "to": {"address": [to]}, "direction": "outbound",
                             "subject": "hello"},
                   "exmail": {"mail": {"status": rng.choice([3, 3, 3, 3, 2, 4, 13]) if noisy else
                                       (4 if rng.random() < 0.01 else 3), "mailtype": 1}}}
        elif roll < 0.85:
            if noisy or rng.random() < 0.01:
                ip = f"10.{rng.randrange(4)}.{rng.randrange(8)}.{rng.randrange(4)}"
            else:
                ip = f"10.9.{k % 250}.{k // 250 % 250}"
            doc = {"event": {"dataset": "exmail.login_log", "outcome": "success"}, "user": {"email": u},
                   "source": {"ip": ip}, "exmail": {"login": {"type": rng.randrange(1, 6), "type_name": "web"}}}
        elif roll < 0.93:
            doc = {"event": {"dataset": "exmail.new_mail"}, "user": {"email": rng.choice([u, "service@acme.com"])},
                   "email": {"from": {"address": [rng.choice(["a@gmail.com", "b@acme.com"])]}, "subject": "询价"}}
        elif roll < 0.97:
            op = rng.choice([1, 2, 19, 20, 22, 23, 37, 40])
            doc = {"event": {"dataset": "exmail.operation_log"}, "user": {"email": "admin@acme.com"},
                   "exmail": {"operation": {"type": op, "type_name": f"op{op}", "operand": u}}}
        elif roll < 0.99:
            drift = [{"type": 1, "name": "force_secure_login", "desired": "1", "actual": "0"}] \
                if rng.random() < 0.3 else []
            doc = {"event": {"dataset": "exmail.options"}, "user": {"email": u},
                   "exmail": {"options": {"drift": drift}}}
        else:
            doc = {"event": {"dataset": "exmail.pipeline_error", "kind": "pipeline_error"},
                   "exmail": {"pipeline_error": {"stream": "c1/mail_log", "gap_risk": rng.random() < 0.5,
                                                 "error_type": "api"}}}
        out.append(Envelope(schema="exmail.event/1", id=f"e{i}", corp_id="c1", source="bench",
                            occurred_at=utc_iso(t), observed_at=utc_iso(t), data=doc))
    return out


def bench_rules(n: int, users: int, rounds: int, json_state: bool, noisy: bool) -> tuple[float, int]:
    pack = load_default_rules({"cs_mailboxes": ["service@acme.com"], "new_ip_warmup": "10m"})
    evs = events(n, users, noisy)
    times = []
    alerts = 0
    for _ in range(rounds):
        engine = RuleEngine(pack, MemoryRuleState(json_roundtrip=json_state), corp_domains={"c1": ["acme.com"]})
        start = time.perf_counter()
        alerts = 0
        for i, e in enumerate(evs):
            alerts += len(engine.evaluate(e, now=T0 + i * 0.5))
        times.append(time.perf_counter() - start)
    return min(times) / n * 1e6, alerts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", type=int, default=5000)
    ap.add_argument("--events", type=int, default=50_000)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    rate, per = bench_dispatch(args.alerts, args.rounds, encode=False)
    print(f"dispatch, group_wait 0, {args.alerts} distinct groups: {rate:,.0f} alerts/s ({per:.1f} µs/alert)")
    rate, per = bench_dispatch(args.alerts, args.rounds, encode=True)
    print(f"dispatch + notification envelope encode:        {rate:,.0f} alerts/s ({per:.1f} µs/alert)")
    for noisy in (False, True):
        for json_state in (False, True):
            us, alerts = bench_rules(args.events, args.users, args.rounds, json_state, noisy)
            print(f"rules, default pack, {'alert-heavy' if noisy else 'typical':<11} mix, "
                  f"{'JSON' if json_state else 'object':<6} state: {us:5.1f} µs/event "
                  f"({alerts} alerts / {args.events} events)")


if __name__ == "__main__":
    main()
