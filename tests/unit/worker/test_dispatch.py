"""The dispatch service's keying of exmail.notifications (alerting.spread_notifications)."""

from __future__ import annotations

import time

from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.transforms.routing import SilenceStore, parse_routing_config
from pipeline.transforms.routing.dispatcher import Dispatcher
from pipeline.transforms.rules.alert import Alert
from pipeline.worker._dispatch import DispatchService

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
