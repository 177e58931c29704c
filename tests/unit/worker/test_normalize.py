"""NormalizeBatch: a batch of raw records becomes events and dead letters, produced once per batch (a refused
delivery retried)."""

from __future__ import annotations

import orjson

from pipeline.envelope import record_key
from pipeline.transforms.normalize.directory_copy import DirectoryCopy
from pipeline.worker.normalize import NormalizeBatch
from tests.unit._kafka_fakes import FakeMessage

from .conftest import CORP, NAMES, Producer, _mail


async def test_normalize_batch_produces_events_and_dead_letters_once_per_batch() -> None:
    directory = DirectoryCopy()
    directory.apply(f"{CORP}/user/Alice@example.com".encode(),
                    orjson.dumps({"name": "Alice Liddell", "department": [7], "enable": 1}))
    producer = Producer(fail_first=True)
    caught_up: list[int] = []
    handler = NormalizeBatch(producer, NAMES, directory, lambda: caught_up.append(1))  # type: ignore[arg-type]
    raw = NAMES.raw("mail_log")
    batch = [FakeMessage(raw, _mail(i).encode(), offset=i, key=record_key(CORP, "alice@example.com")) for i in range(3)]
    batch.insert(1, FakeMessage(raw, b"{not json", offset=9, key=b"k"))
    batch.append(FakeMessage(raw, None, offset=10))
    await handler(batch)  # type: ignore[arg-type]
    assert caught_up == [1]
    assert len(producer.calls) == 2  # one batch, then the retry of what the broker refused
    assert producer.calls[0] == producer.calls[1]
    sent = producer.calls[-1]
    events = [orjson.loads(v) for t, _, v in sent if t == NAMES.events]
    letters = [orjson.loads(v) for t, _, v in sent if t == NAMES.dlq]
    assert [e["id"] for e in events] == [_mail(i).id for i in range(3)]
    assert {e["data"]["user"].get("full_name") for e in events} == {"Alice Liddell"}
    assert [(d["data"]["stage"], d["data"]["origin"]["offset"]) for d in letters] == [("normalize", 9),
                                                                                    ("normalize", 10)]
