"""The pushed-record gate: each record id produced once in the dedup window, nothing produced for a request
that is gone, concurrent copies sharing one produce."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from pipeline.envelope import Envelope, fingerprint
from pipeline.kafka import TopicNames
from pipeline.records import RAW_SCHEMAS
from pipeline.sources._emit import Emitter, Outgoing
from pipeline.sources._intake import IntakeGate

TOPIC = "t.exmail.raw.new_mail"


def item(n: int) -> Outgoing:
    env = Envelope(schema=RAW_SCHEMAS["new_mail"], id=fingerprint("new_mail", "c", "Mail", n), corp_id="c",
                   source="test", occurred_at="2026-01-01T00:00:00Z", data={"n": n})
    return Outgoing(TOPIC, b"k", env)


class SlowBroker:
    """send_batch waits on `release` so copies of one push overlap; counts what was produced."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.produced: list[str] = []
        self.fail = False

    async def send_batch(self, records: Any) -> list[Any]:
        items = list(records)
        await self.release.wait()
        if self.fail:
            return [RuntimeError("broker down") for _ in items]
        self.produced.extend(v.id for _, _, v in items)
        return [None for _ in items]


def gate_over(broker: Any, now: Any = time.time) -> IntakeGate:
    return IntakeGate(Emitter(broker, TopicNames("t.")), dedup_window_seconds=900, now=now)


async def test_a_stored_id_is_not_produced_again() -> None:
    broker = SlowBroker()
    broker.release.set()
    gate = gate_over(broker)
    assert await gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: True) == "delivered"
    assert await gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: True) == "duplicate"
    assert broker.produced == [item(1).envelope.id]


async def test_concurrent_copies_share_one_produce() -> None:
    broker = SlowBroker()
    gate = gate_over(broker)
    copies = [asyncio.create_task(gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: True))
              for _ in range(5)]
    await asyncio.sleep(0.01)
    broker.release.set()
    decisions = await asyncio.gather(*copies)
    assert sorted(decisions) == ["delivered"] + ["duplicate"] * 4
    assert broker.produced == [item(1).envelope.id]


async def test_a_failed_produce_is_retried_and_lands_once() -> None:
    broker = SlowBroker()
    broker.release.set()
    broker.fail = True
    gate = gate_over(broker)
    for _ in range(3):
        assert await gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: True) == "failed"
    broker.fail = False
    decisions = [await gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: True)
                 for _ in range(2)]
    assert decisions == ["delivered", "duplicate"]
    assert broker.produced == [item(1).envelope.id]


async def test_nothing_is_produced_for_a_request_that_is_gone() -> None:
    broker = SlowBroker()
    broker.release.set()
    gate = gate_over(broker)
    assert await gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: False) == "abandoned"
    assert broker.produced == []


async def test_a_partly_stored_batch_completes_on_retry() -> None:
    broker = SlowBroker()
    broker.release.set()
    gate = gate_over(broker)
    assert await gate.deliver([item(1)], corp="c", stream="hr", still_open=lambda: True) == "delivered"
    assert await gate.deliver([item(1), item(2)], corp="c", stream="hr", still_open=lambda: True) == "delivered"
    assert broker.produced == [item(1).envelope.id, item(2).envelope.id]


async def test_ids_are_forgotten_after_the_window() -> None:
    broker = SlowBroker()
    broker.release.set()
    clock = [1_000_000.0]
    gate = gate_over(broker, now=lambda: clock[0])
    await gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: True)
    clock[0] += 900 * 2 + 1
    assert await gate.deliver([item(1)], corp="c", stream="callback", still_open=lambda: True) == "delivered"
