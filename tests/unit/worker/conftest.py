"""Fakes shared by the worker's batch handler tests: a producer that records (and can refuse) send_batch calls,
and raw mail_log envelopes (Kafka messages: tests/unit/_kafka_fakes.py)."""

from __future__ import annotations

from typing import Any

from pipeline.envelope import Envelope, utc_iso
from pipeline.kafka import TopicNames
from pipeline.kafka.producer import DeliveryError
from pipeline.records import RAW_SCHEMAS, raw_id

CORP = "wm0123456789abcdef"
NAMES = TopicNames("t.")


class Producer:
    """Records every send_batch call; `fail_first` refuses the first delivery attempt of every record."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls: list[list[tuple[str, bytes | None, bytes]]] = []
        self.fail_first = fail_first

    async def send_batch(self, records: Any) -> list[DeliveryError | None]:
        batch = list(records)
        self.calls.append(batch)
        if self.fail_first and len(self.calls) == 1:
            return [DeliveryError(t, "injected") for t, _, _ in batch]
        return [None for _ in batch]


def _mail(i: int, sender: str = "alice@example.com") -> Envelope:
    rec = {"mailtype": 1, "sender": sender, "receiver": f"c{i}@partner.cn", "subject": f"s{i}",
           "time": 1_764_000_000 + i, "status": 3}
    ctx = {"date": "2025-11-24", "query_mailtype": 0}
    return Envelope(schema=RAW_SCHEMAS["mail_log"], id=raw_id(CORP, "mail_log", rec, 0, ctx), corp_id=CORP,
                    source="mail_log", occurred_at=utc_iso(rec["time"]), data={"record": rec, "context": ctx})
