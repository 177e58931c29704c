"""The records a benchmark run sends: raw mail/login log envelopes (as the pollers produce them), alert
envelopes (as the rules produce them) and the same alerts in Alertmanager's API form. Every alert carries a
bench id "bnch<6 digits>x" in a label, which the receiver looks for in each notification body."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.envelope import Envelope, record_key, utc_iso
from pipeline.records import RAW_SCHEMAS, raw_id
from pipeline.transforms.rules.alert import Alert

CORP = "wwbench00000000001"
DOMAIN = "bench.example.com"
TZ = timedelta(hours=8)


def bench_id(n: int) -> str:
    return f"bnch{n:06d}x"


@dataclass(frozen=True, slots=True)
class RawRecord:
    topic_kind: str  # mail_log | login_log
    key: bytes
    envelope: Envelope


def raw_records(n: int, seed: int = 7, users: int = 2000) -> list[RawRecord]:
    """`n` raw records, about 70 % mail log (both directions, every status) and 30 % login log, spread over
    today in the corp's timezone; distinct content, so every record has its own id."""
    rng = random.Random(seed)
    local_midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - TZ
    start = int(local_midnight.timestamp())
    day = (local_midnight + TZ).date().isoformat()
    observed = utc_iso()
    out: list[RawRecord] = []
    for i in range(n):
        user = f"user{rng.randrange(users):04d}@{DOMAIN}"
        t = start + (i * 86399) // max(n, 1)
        if rng.random() < 0.7:
            sent = rng.random() < 0.5
            peer = f"contact{rng.randrange(10_000)}@partner{rng.randrange(50)}.example.org"
            record: dict[str, Any] = {
                "mailtype": 1 if sent else 2, "sender": user if sent else peer,
                "receiver": peer if sent else user,
                "subject": f"Quarterly report {i} 报告", "time": t,
                "status": rng.choice([3, 3, 3, 2, 4]) if sent else rng.choice([13, 13, 14, 11, 12])}
            kind, context, subject = "mail_log", {"date": day, "query_mailtype": 0}, user
        else:
            ip = f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            record = {"time": t, "ip": ip, "type": rng.randrange(1, 6)}
            kind, context, subject = "login_log", {"userid": user, "date": day}, user
        env = Envelope(schema=RAW_SCHEMAS[kind], id=raw_id(CORP, kind, record, 0, context), corp_id=CORP,
                       source=f"exmail-ingest/{kind}", occurred_at=utc_iso(t), observed_at=observed,
                       data={"record": record, "context": context})
        out.append(RawRecord(kind, record_key(CORP, subject), env))
    return out


def kcat_files(records: list[RawRecord], directory: Path) -> dict[str, Path]:
    """One "key<TAB>value" line file per raw topic kind (orjson escapes tabs, so the first tab splits)."""
    lines: dict[str, list[bytes]] = {}
    for rec in records:
        lines.setdefault(rec.topic_kind, []).append(rec.key + b"\t" + rec.envelope.encode())
    out = {}
    for kind, rows in lines.items():
        path = directory / f"{kind}.lines"
        path.write_bytes(b"\n".join(rows) + b"\n")
        out[kind] = path
    return out


def burst_alerts(n: int, first_id: int = 0, now: float | None = None) -> list[Alert]:
    """`n` firing alerts in distinct groups (label `group` = the bench id), resolving in an hour."""
    t = time.time() if now is None else now
    return [Alert(labels={"alertname": "BenchBurst", "severity": "warning", "corp": CORP,
                          "group": bench_id(first_id + i)},
                  annotations={"summary": f"bench alert {bench_id(first_id + i)}"},
                  starts_at=t, ends_at=t + 3600, rule="bench_burst")
            for i in range(n)]


def alertmanager_alerts(alerts: list[Alert]) -> list[dict[str, Any]]:
    """The same alerts as Alertmanager's POST /api/v2/alerts body items."""
    return [{"labels": a.labels, "annotations": a.annotations, "startsAt": utc_iso(a.starts_at),
             "endsAt": utc_iso(a.ends_at)} for a in alerts]
