"""The dispatch service: its keying of exmail.notifications (alerting.spread_notifications), and partitions
taken while their state is read."""

from __future__ import annotations

import asyncio
import time

import orjson
from confluent_kafka import TopicPartition

from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.transforms.routing import SilenceStore, parse_routing_config
from pipeline.transforms.routing.dispatcher import Dispatcher
from pipeline.transforms.rules.alert import Alert
from pipeline.worker._dispatch import DispatchService
from tests.unit._kafka_fakes import FakeMessage, RebalanceConsumer

ROUTING = {"route": {"receiver": "hook", "group_by": ["group"], "group_wait": "0s", "group_interval": "1s",
                     "routes": [{"receiver": "robot", "matchers": ['team="ops"'], "group_by": ["group"]}]},
           "receivers": [{"name": "hook"}, {"name": "robot"}]}


def _keys(spread: frozenset[str]) -> dict[str, list[bytes]]:
    routing = parse_routing_config(ROUTING)
    service = DispatchService(kafka=KafkaSettings(bootstrap="127.0.0.1:1"), names=TopicNames("t."), group_id="g",
                              routing=routing, silences=SilenceStore(), producer=None, spread=spread)  # type: ignore[arg-type]
    dispatcher = Dispatcher(routing)
    now = time.time()
    for i, team in enumerate(["dev", "dev", "ops", "ops"]):
        alert = Alert(labels={"alertname": "A", "group": f"g{i}", "team": team}, annotations={}, starts_at=now,
                      ends_at=now + 60,
                      rule="a")
        service._emit(dispatcher.ingest(alert, now))
    out: dict[str, list[bytes]] = {}
    for _topic, key, _value in service._out:
        assert key is not None
        out.setdefault(key.split(b"/")[0].decode(), []).append(key)
    return out


def test_notifications_are_keyed_by_receiver_unless_spread_by_group() -> None:
    assert _keys(frozenset()) == {"hook": [b"hook", b"hook"], "robot": [b"robot", b"robot"]}
    spread = _keys(frozenset({"hook"}))
    assert spread["robot"] == [b"robot", b"robot"]  # not spread: one partition, one process per receiver
    assert len(set(spread["hook"])) == 2 and all(k.startswith(b"hook/") for k in spread["hook"])


def test_an_assigned_partition_is_not_paused_and_its_early_alerts_wait_for_its_state() -> None:
    """The fresh-clone demo that stalled: dispatch paused partition 0 of exmail.alerts in the assignment callback
    and librdkafka never started its fetcher (librdkafka#2190). Now nothing is paused at assignment; alerts that
    arrive while the partition's state is read are held (the partition paused then, its fetcher running), and
    dispatched, in order, before anything newer, once the state is in."""
    routing = parse_routing_config(ROUTING)
    service = DispatchService(kafka=KafkaSettings(bootstrap="127.0.0.1:1"), names=TopicNames("t."), group_id="g",
                              routing=routing, silences=SilenceStore(), producer=None)  # type: ignore[arg-type]
    consumer = RebalanceConsumer()
    service._consumer = consumer  # type: ignore[assignment]
    service._read_state = lambda partitions: ({p: {} for p in partitions}, {})  # type: ignore[method-assign]
    now = time.time()

    def record(offset: int, group: str) -> FakeMessage:
        alert = Alert(labels={"alertname": "A", "group": group, "team": "dev"}, annotations={}, starts_at=now,
                      ends_at=now + 60, rule="a")
        return FakeMessage("t.exmail.alerts", alert.to_envelope(now).encode(), partition=0, offset=offset)

    async def run() -> None:
        service._on_assign(consumer, [TopicPartition("t.exmail.alerts", 0)])  # type: ignore[arg-type]
        assert consumer.calls == [("assign", [0])]  # no pause beside the assignment
        assert [service._ingest(record(i, f"g{i}"), now) for i in range(3)] == [0, 0, 0]  # type: ignore[arg-type]
        assert consumer.calls[1:] == [("pause", [0])] and service._out == [] and service._consumed == {}
        await asyncio.gather(*service._loads)
        assert consumer.calls[-1] == ("resume", [0])
        assert [orjson.loads(v)["data"]["group_labels"]["group"] for _, _, v in service._out
                if v is not None] == ["g0", "g1", "g2"]
        assert service._consumed == {0: 3}
        assert service._ingest(record(3, "g3"), now) == 1  # type: ignore[arg-type]  # and later ones as usual

    asyncio.run(run())
