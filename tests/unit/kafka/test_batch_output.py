"""produce_all: one send_batch for the whole output, then only the refused records again, with backoff, until
every record is acknowledged (the caller commits its input only after that)."""

from __future__ import annotations

from typing import cast

import pytest

from pipeline.kafka import EventProducer
from pipeline.kafka.batch_output import Record, produce_all
from pipeline.kafka.producer import DeliveryError


class RefusingProducer:
    """send_batch refusing the records whose value is in `refuse`, for the first `times` calls that see them."""

    def __init__(self, refuse: set[bytes], times: int) -> None:
        self.refuse = refuse
        self.times = times
        self.calls: list[list[Record]] = []

    async def send_batch(self, records: list[Record]) -> list[DeliveryError | None]:
        self.calls.append(list(records))
        refusing = len(self.calls) <= self.times
        return [DeliveryError(t, "Broker: Not enough in-sync replicas") if refusing and v in self.refuse else None
                for t, _, v in records]


RECORDS: list[Record] = [("t.events", b"k%d" % i, b"v%d" % i) for i in range(5)]


async def test_everything_acknowledged_at_once_is_one_call() -> None:
    producer = RefusingProducer(set(), 0)
    await produce_all(cast(EventProducer, producer), RECORDS, stage="normalize")
    assert producer.calls == [RECORDS]


async def test_only_refused_records_are_sent_again_until_acknowledged(caplog: pytest.LogCaptureFixture) -> None:
    producer = RefusingProducer({b"v1", b"v3"}, times=3)
    await produce_all(cast(EventProducer, producer), RECORDS, stage="normalize", retry_initial=0.001,
                      retry_max=0.004)
    assert producer.calls[0] == RECORDS
    assert producer.calls[1:] == [[RECORDS[1], RECORDS[3]]] * 3  # three refusals, then acknowledged
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 3
    assert errors[0].startswith("normalize: 2 of 5 records not delivered")
    assert "Not enough in-sync replicas" in errors[0]


async def test_nothing_to_send_sends_nothing() -> None:
    producer = RefusingProducer(set(), 0)
    await produce_all(cast(EventProducer, producer), [], stage="audit")
    assert producer.calls == []
