"""SiemBatch, the batch handler of one SIEM sink: the sink gets every decodable event once, in chunks of its
`batch.max_records`, retried while it says so; what it refuses becomes a dead letter on exmail.dlq naming the
stage and the reason; undecodable records and tombstones are left to the stages that dead-letter them."""

from __future__ import annotations

from typing import cast

import orjson

from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.kafka import EventProducer
from pipeline.sinks._batching import BatchConfig, BatchOutcome
from pipeline.worker.siem import SiemBatch
from tests.unit._kafka_fakes import FakeMessage

from .conftest import CORP, NAMES, Producer


def _event(i: int) -> Envelope:
    return Envelope(schema="exmail.event/1", id=fingerprint(f"e{i}"), corp_id=CORP, source="mail_log",
                    occurred_at=utc_iso(1_764_000_000 + i), data={"n": i})


class Sink:
    """Refuses events whose n is in `refuse`; asks once for the whole first chunk to be sent again."""

    name = "siem-test"

    def __init__(self, refuse: set[int]) -> None:
        self.refuse = refuse
        self.calls: list[list[int]] = []

    async def send(self, batch: list[Envelope]) -> BatchOutcome[Envelope]:
        self.calls.append([e.data["n"] for e in batch])
        if len(self.calls) == 1:
            return BatchOutcome(retry=list(batch), retry_reason="429")
        return BatchOutcome(rejected=[(e, "mapping conflict on field n") for e in batch if e.data["n"] in self.refuse])


async def test_events_in_chunks_retried_and_refusals_dead_lettered() -> None:
    sink, producer = Sink(refuse={3}), Producer()
    config = BatchConfig(max_records=2, retry_initial_seconds=0.001, retry_max_seconds=0.002)
    handler = SiemBatch(sink, "es", config, cast(EventProducer, producer), NAMES)
    events = NAMES.events
    batch = [FakeMessage(events, _event(i).encode(), offset=i) for i in range(5)]
    batch.insert(2, FakeMessage(events, b"{not an envelope", offset=99))
    batch.append(FakeMessage(events, None, offset=100))
    await handler(batch)  # type: ignore[arg-type]

    assert sink.calls == [[0, 1], [0, 1], [2, 3], [4]]  # the first chunk again after its retry, then the rest
    [letters] = producer.calls  # one produce for the whole batch's dead letters
    assert [(topic, key) for topic, key, _ in letters] == [(NAMES.dlq, events.encode())]
    letter = orjson.loads(letters[0][2])
    assert letter["data"]["stage"] == "siem:es"
    assert (letter["data"]["reason"], letter["data"]["error_type"]) == ("mapping conflict on field n", "rejected")
    assert letter["data"]["payload"]["id"] == _event(3).id


async def test_nothing_refused_produces_nothing() -> None:
    sink, producer = Sink(refuse=set()), Producer()
    handler = SiemBatch(sink, "es", BatchConfig(retry_initial_seconds=0.001), cast(EventProducer, producer), NAMES)
    await handler([FakeMessage(NAMES.events, _event(i).encode(), offset=i) for i in range(3)])  # type: ignore[arg-type]
    assert sink.calls == [[0, 1, 2], [0, 1, 2]]
    assert producer.calls == []
