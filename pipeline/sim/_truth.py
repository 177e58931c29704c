"""Ground truth in the raw-topic contract: every log record with the id a poller must compute for it
(`raw_id` over the record exactly as the API returns it, occurrences numbered per whole-date answer)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from pipeline import streams
from pipeline.envelope import fingerprint
from pipeline.records import raw_id, with_occurrences
from pipeline.sim._corp import CorpState
from pipeline.sim._state import LogEntry

LOG_KINDS = tuple(s.kind for s in streams.log_kinds())
_PER_USER = frozenset(s.kind for s in streams.log_kinds() if s.log is not None and s.log.per_user)


def order_entries(entries: Sequence[LogEntry], order: str, salt: str) -> list[LogEntry]:
    """The order a log answer lists its records in (shared by the API and the ground truth)."""
    ordered = sorted(entries, key=lambda e: (e.time, e.seq))
    if order == "desc":
        ordered.reverse()
    elif order == "shuffled":
        random.Random(salt).shuffle(ordered)
    return ordered


def context_for(kind: str, date: str, userid: str | None = None) -> dict[str, Any]:
    """The context a poller stores with each record of `kind` (the catalog's query of the kind)."""
    query = streams.get(kind).log
    assert query is not None, kind
    return query.context_for(date, userid)


def log_truth(corp: CorpState, kind: str, dates: Sequence[str], now: float, visible_only: bool,
              order: str, userid: str | None = None) -> list[dict[str, Any]]:
    if kind not in LOG_KINDS:
        raise ValueError(f"unknown log kind {kind!r}; kinds are {', '.join(LOG_KINDS)}")
    out: list[dict[str, Any]] = []
    for date in dates:
        entries = corp.logs.entries(kind, [date])
        if visible_only:
            entries = [e for e in entries if e.visible_at <= now]
        groups: dict[str | None, list[LogEntry]] = {}
        for e in entries:
            key = e.userid if kind in _PER_USER else None
            if userid is not None and kind in _PER_USER and key != userid.lower():
                continue
            groups.setdefault(key, []).append(e)
        for subject, group in groups.items():
            context = context_for(kind, date, subject)
            answer = order_entries(group, order, f"{kind}:{date}:{date}:{subject}")
            records = [e.record for e in answer]
            for (occurrence, record), entry in zip(with_occurrences(kind, records, context), answer, strict=True):
                out.append({
                    "id": raw_id(corp.corp_id, kind, record, occurrence, context),
                    "record": record, "context": context, "occurrence": occurrence,
                    "time": entry.time, "visible_at": entry.visible_at, "visible": entry.visible_at <= now,
                    "origin": entry.origin,
                })
    return out


def mail_status(corp: CorpState, domain: str, dates: Sequence[str], now: float) -> tuple[int, int]:
    """(sendsum, recvsum) over visible mail records of `domain` in `dates`."""
    domain = domain.lower()
    send = recv = 0
    for e in corp.logs.entries("mail_log", dates):
        if e.visible_at > now:
            continue
        r = e.record
        if r["mailtype"] == 1 and str(r["sender"]).lower().endswith("@" + domain):
            send += 1
        elif r["mailtype"] == 2 and str(r["receiver"]).lower().endswith("@" + domain):
            recv += 1
    return send, recv


def mail_status_truth(corp: CorpState, dates: Sequence[str], now: float) -> list[dict[str, Any]]:
    out = []
    for date in dates:
        for domain in corp.directory.domains:
            send, recv = mail_status(corp, domain, [date], now)
            record = {"sendsum": send, "recvsum": recv}
            out.append({
                "id": fingerprint("exmail.raw", corp.corp_id, "mail_status", domain, date, send, recv),
                "record": record, "context": {"domain": domain, "date": date},
            })
    return out
