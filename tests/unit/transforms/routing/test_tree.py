"""The routing tree, from Alertmanager docs/configuration.md §`<route>` (and dispatch/route.go Match)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.transforms.routing import RoutingConfig, RoutingConfigError, parse_routing_config
from pipeline.transforms.routing._tree import build_tree

Routing = Callable[..., RoutingConfig]

DOC_EXAMPLE = """
route:
  receiver: 'default-receiver'
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  group_by: [cluster, alertname]
  routes:
  - receiver: 'database-pager'
    group_wait: 10s
    matchers:
    - service=~"mysql|cassandra"
  - receiver: 'frontend-pager'
    group_by: [product, environment]
    matchers:
    - team="frontend"
  - receiver: 'dev-pager'
    matchers:
      - service="inhouse-service"
    mute_time_intervals:
      - offhours
    continue: true
  - receiver: 'on-call-pager'
    matchers:
      - service="inhouse-service"
    active_time_intervals:
      - offhours
receivers:
  - name: default-receiver
  - name: database-pager
  - name: frontend-pager
  - name: dev-pager
  - name: on-call-pager
time_intervals:
  - name: offhours
    time_intervals:
      - times: [{start_time: '17:00', end_time: '24:00'}]
"""


def tree(cfg: RoutingConfig) -> Any:
    return build_tree(cfg.route, cfg.intervals())


def receivers(cfg: RoutingConfig, **labels: str) -> list[str]:
    return [r.receiver for r in tree(cfg).match(labels)]


def test_documented_example_routes() -> None:
    """docs/configuration.md §route "Example": first matching child wins; continue: true carries on to the next
    sibling; no match stays at the root."""
    cfg = parse_routing_config(DOC_EXAMPLE)
    assert receivers(cfg, service="mysql") == ["database-pager"]
    assert receivers(cfg, service="mysql", team="frontend") == ["database-pager"], "stops at the first match"
    assert receivers(cfg, team="frontend") == ["frontend-pager"]
    assert receivers(cfg, service="inhouse-service") == ["dev-pager", "on-call-pager"], "continue: true"
    assert receivers(cfg, service="other") == ["default-receiver"]
    assert receivers(cfg, service="mysql-2") == ["default-receiver"], "regex anchored"


def test_inheritance_of_group_by_timers_and_receiver(routing: Routing) -> None:
    """docs/configuration.md §route: "Its optional configuration parameters are inherited from its parent node
    if not set"; group_wait/group_interval/repeat_interval "If omitted, child routes inherit ... of the parent"."""
    cfg = routing(route={"group_by": ["corp"], "group_wait": "10s", "group_interval": "1m", "repeat_interval": "2h",
                         "routes": [{"matchers": ['team="a"'], "group_wait": "0s", "routes": [
                             {"matchers": ['sev="x"'], "receiver": "child"},
                         ]}]})
    root = tree(cfg)
    [grandchild] = root.match({"team": "a", "sev": "x"})
    assert grandchild.receiver == "child"
    assert grandchild.group_by == frozenset({"corp"})
    assert (grandchild.group_wait, grandchild.group_interval, grandchild.repeat_interval) == (0.0, 60.0, 7200.0)
    [child] = root.match({"team": "a"})
    assert child.receiver == "default", "a child without receiver inherits the parent's"


def test_defaults_when_root_omits_timers() -> None:
    """docs/configuration.md §route defaults: group_wait 30s, group_interval 5m, repeat_interval 4h."""
    cfg = parse_routing_config({"route": {"receiver": "r"}, "receivers": [{"name": "r"}]})
    root = tree(cfg)
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (30.0, 300.0, 14400.0)
    assert root.group_by == frozenset()


def test_group_by_all(routing: Routing) -> None:
    """docs/configuration.md §route group_by: "the special value '...' ... aggregate by all possible labels",
    inherited by children that do not set group_by."""
    cfg = routing(route={"group_by": ["..."], "routes": [{"matchers": ['team="a"'], "receiver": "x"},
                                                         {"matchers": ['team="b"'], "group_by": ["team"]}]})
    root = tree(cfg)
    labels = {"alertname": "A", "team": "a", "user": "u"}
    [a] = root.match(labels)
    assert a.group_labels(labels) == labels
    [b] = root.match({**labels, "team": "b"})
    assert b.group_labels({**labels, "team": "b"}) == {"team": "b"}


def test_time_intervals_are_not_inherited(routing: Routing) -> None:
    """dispatch/route.go NewRoute: MuteTimeIntervals/ActiveTimeIntervals come from the route itself only."""
    cfg = routing(route={"routes": [{"matchers": ['a="1"'], "mute_time_intervals": ["t"], "routes": [
        {"matchers": ['b="1"']}]}]},
        time_intervals=[{"name": "t", "time_intervals": [{"weekdays": ["saturday"]}]}])
    [child] = tree(cfg).match({"a": "1"})
    [grandchild] = tree(cfg).match({"a": "1", "b": "1"})
    assert [n for n, _ in child.mute_intervals] == ["t"]
    assert grandchild.mute_intervals == ()


def test_route_ids_are_unique_for_identical_siblings(routing: Routing) -> None:
    """dispatch/route.go Route.ID: parent id + matchers + sibling index."""
    cfg = routing(route={"routes": [{"matchers": ['a="1"'], "continue": True}, {"matchers": ['a="1"']}]})
    ids = [r.id for r in tree(cfg).match({"a": "1"})]
    assert ids == ['{}/{a="1"}/0', '{}/{a="1"}/1']


def test_deprecated_match_and_match_re(routing: Routing) -> None:
    """docs/configuration.md §route: `match` / `match_re` (deprecated) still select alerts."""
    cfg = routing(route={"routes": [{"match": {"team": "a"}, "match_re": {"sev": "crit.*"}, "receiver": "x"}]})
    assert receivers(cfg, team="a", sev="critical") == ["x"]
    assert receivers(cfg, team="a", sev="warning") == ["default"]


@pytest.mark.parametrize(("cfg", "message"), [
    ({"route": {"receiver": "r", "matchers": ['a="1"']}, "receivers": [{"name": "r"}]}, "root route must not have"),
    ({"route": {"receiver": "r", "mute_time_intervals": ["t"]}, "receivers": [{"name": "r"}],
      "time_intervals": [{"name": "t"}]}, "root route cannot have mute"),
    ({"route": {}, "receivers": [{"name": "r"}]}, "root route needs a receiver"),
    ({"route": {"receiver": "r", "routes": [{"receiver": "nope"}]}, "receivers": [{"name": "r"}]},
     r"route.routes\[0\].receiver: undefined receiver 'nope'"),
    ({"route": {"receiver": "r", "routes": [{"active_time_intervals": ["x"]}]}, "receivers": [{"name": "r"}]},
     "undefined time interval 'x'"),
    ({"route": {"receiver": "r", "routes": [{"matchers": ["a=~\"(\""]}]}, "receivers": [{"name": "r"}]},
     r"route.routes\[0\].matchers"),
    ({"route": {"receiver": "r", "group_interval": "0s"}, "receivers": [{"name": "r"}]},
     "route.group_interval: must be greater than zero"),
    ({"route": {"receiver": "r", "group_by": ["...", "a"]}, "receivers": [{"name": "r"}]}, "only entry"),
    ({"route": {"receiver": "r"}, "receivers": [{"name": "r"}, {"name": "r"}]}, "unique"),
    ({"route": {"receiver": "r", "routes": [{"contineu": True}]}, "receivers": [{"name": "r"}]},
     r"route.routes\[0\].contineu: Extra inputs"),
])
def test_config_errors_name_the_field(cfg: dict[str, Any], message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        parse_routing_config(cfg)


def test_receivers_keep_delivery_settings() -> None:
    cfg = parse_routing_config({"route": {"receiver": "r"},
                                "receivers": [{"name": "r", "send_resolved": True, "wecom_robot": {"key": "env:K"}}]})
    assert cfg.send_resolved() == {"r": True}
    assert cfg.receivers[0].model_extra == {"wecom_robot": {"key": "env:K"}}
