"""exmail.alerts is keyed so a partition holds whole groups and the inhibition sources that can mute them."""

from __future__ import annotations

import time
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.transforms.routing import Dispatcher, SilenceStore, parse_routing_config
from pipeline.transforms.rules.alert import Alert
from pipeline.transforms.rules.state import MemoryRuleState
from pipeline.worker import _dispatch
from pipeline.worker._dispatch import DispatchService, _owner

CONFIG = parse_routing_config({
    "route": {"receiver": "a", "group_by": ["alertname", "corp", "user"], "routes": [
        {"receiver": "b", "matchers": ["severity=critical"], "group_by": ["corp", "user", "rule"],
         "continue": True},
        {"receiver": "c", "matchers": ["team=mail"]},  # inherits the root's group_by
    ]},
    "receivers": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
    "inhibit_rules": [{"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"],
                       "equal": ["corp", "user"]}],
})


def test_the_key_labels_are_what_every_route_groups_by_and_every_inhibit_rule_equals() -> None:
    assert CONFIG.partition_labels() == ("corp", "user")
    assert CONFIG.partition_key({"corp": "c1", "user": "u", "x": "y"}) == b"corp=c1\x00user=u"
    assert CONFIG.partition_key({"user": "u"}) == b"corp=\x00user=u"


def test_no_common_label_means_one_key() -> None:
    flat = parse_routing_config({"route": {"receiver": "a"}, "receivers": [{"name": "a"}]})
    assert flat.partition_labels() == ()
    assert flat.partition_key({"a": "1"}) == flat.partition_key({"b": "2"}) == b"*"
    everything = parse_routing_config({"route": {"receiver": "a", "group_by": ["..."]},
                                       "receivers": [{"name": "a"}]})
    assert everything.partition_labels() == ()


_labels = st.fixed_dictionaries(
    {"alertname": st.sampled_from(["A", "B"]), "severity": st.sampled_from(["critical", "warning"])},
    optional={"corp": st.sampled_from(["c1", "c2"]), "user": st.sampled_from(["u1", "u2"]),
              "team": st.just("mail"), "rule": st.sampled_from(["r1", "r2"])})


@settings(max_examples=200, deadline=None)
@given(a=_labels, b=_labels)
def test_alerts_of_one_group_share_a_key(a: dict[str, str], b: dict[str, str]) -> None:
    tree = Dispatcher(CONFIG).tree
    for route_a in tree.match(a):
        for route_b in tree.match(b):
            if route_a is route_b and route_a.group_labels(a) == route_b.group_labels(b):
                assert CONFIG.partition_key(a) == CONFIG.partition_key(b)
    if all(a.get(n, "") == b.get(n, "") for n in ("corp", "user")):  # the inhibit rule's `equal`
        assert CONFIG.partition_key(a) == CONFIG.partition_key(b)


def test_state_keys_name_their_partition_and_old_keys_belong_to_none() -> None:
    assert _owner("p3/ag/abc") == (3, "ag/abc")
    assert _owner("p12/nf/ops/g") == (12, "nf/ops/g")
    assert _owner("ag/abc") == (None, "ag/abc")
    assert _owner("px/ag") == (None, "px/ag")


def test_state_of_the_one_partition_layout_moves_under_p0_on_first_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """A deployment upgraded from one partition keeps its groups: partition 0's dispatcher loads the
    unprefixed keys, and the service rewrites them under p0/ (tombstoning the old keys)."""
    routing = parse_routing_config({"route": {"receiver": "a", "group_by": ["user"], "group_wait": "30s"},
                                    "receivers": [{"name": "a"}]})
    old = MemoryRuleState()
    now = time.time()
    Dispatcher(routing, old).ingest(Alert(labels={"alertname": "X", "user": "u1"}, annotations={},
                                          starts_at=now, ends_at=now + 600, rule="r"), now)
    newer = MemoryRuleState()
    Dispatcher(routing, newer).ingest(Alert(labels={"alertname": "X", "user": "u2"}, annotations={},
                                            starts_at=now, ends_at=now + 600, rule="r"), now)
    records = [(k.encode(), orjson.dumps(v)) for k, v in old.items()]
    records += [(f"p1/{k}".encode(), orjson.dumps(v)) for k, v in newer.items()]
    records += [(b"p4/ag/elsewhere", orjson.dumps({"ignored": True}))]

    def fake_scan(bootstrap: str, topic: str, on_record: Callable[[bytes | None, bytes | None], None]) -> None:
        assert topic == "x.exmail.state.alerting"
        for key, value in records:
            on_record(key, value)

    monkeypatch.setattr(_dispatch, "scan", fake_scan)
    service = DispatchService(kafka=KafkaSettings(bootstrap="127.0.0.1:1"), names=TopicNames("x."), group_id="g",
                              routing=routing, silences=SilenceStore(), producer=None)  # type: ignore[arg-type]
    stored, legacy = service._read_state([0, 1])
    service._install([0, 1], stored, legacy)
    assert [g.labels for g in service.dispatchers[0].groups()] == [{"user": "u1"}]
    assert [g.labels for g in service.dispatchers[1].groups()] == [{"user": "u2"}]
    moved = {k: v for _, k, v in service._legacy}
    assert {k for k, v in moved.items() if v is None} == {k.encode() for k, _ in old.items()}
    assert {k for k, v in moved.items() if v is not None} == {f"p0/{k}".encode() for k, _ in old.items()}
