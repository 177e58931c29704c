"""The compiled routing tree: matching (first match unless `continue`), inherited options, route ids."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.transforms.routing._timeintervals import IntervalSpec
from pipeline.transforms.routing.config import RouteConfig
from pipeline.transforms.routing.matchers import Matcher, matchers_string

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(slots=True)
class Route:
    id: str
    matchers: tuple[Matcher, ...]
    receiver: str
    group_by: frozenset[str] | None  # None = '...' (every label)
    group_wait: float
    group_interval: float
    repeat_interval: float
    continue_: bool
    mute_intervals: tuple[tuple[str, tuple[IntervalSpec, ...]], ...]
    active_intervals: tuple[tuple[str, tuple[IntervalSpec, ...]], ...]
    routes: list[Route] = field(default_factory=list)

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """Alertmanager's depth-first, left-to-right match (dispatch/route.go `Route.Match`)."""
        for m in self.matchers:
            if not m.matches(labels):
                return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            found.extend(hits)
            if hits and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Mapping[str, str]) -> dict[str, str]:
        if self.group_by is None:
            return dict(labels)
        return {k: v for k, v in labels.items() if k in self.group_by}

    def walk(self) -> list[Route]:
        out = [self]
        for child in self.routes:
            out.extend(child.walk())
        return out


def build_tree(cfg: RouteConfig, intervals: Mapping[str, tuple[IntervalSpec, ...]]) -> Route:
    return _build(cfg, None, "", 0, intervals)


def _build(cfg: RouteConfig, parent: Route | None, parent_id: str, index: int,
           intervals: Mapping[str, tuple[IntervalSpec, ...]]) -> Route:
    matchers = tuple(sorted(cfg.all_matchers(), key=lambda m: (m.name, m.op, m.value)))
    own = matchers_string(matchers)
    route_id = own if parent is None else f"{parent_id}/{own}/{index}"
    if cfg.group_by is not None:
        group_by: frozenset[str] | None = None if cfg.group_by == ["..."] else frozenset(cfg.group_by)
    else:
        group_by = parent.group_by if parent is not None else frozenset()

    def pick(own: float | None, inherited: float | None, default: float) -> float:
        if own is not None:
            return own
        return inherited if inherited is not None else default

    route = Route(
        id=route_id,
        matchers=matchers,
        receiver=cfg.receiver or (parent.receiver if parent is not None else ""),
        group_by=group_by,
        group_wait=pick(cfg.group_wait, parent.group_wait if parent else None, DEFAULT_GROUP_WAIT),
        group_interval=pick(cfg.group_interval, parent.group_interval if parent else None, DEFAULT_GROUP_INTERVAL),
        repeat_interval=pick(cfg.repeat_interval, parent.repeat_interval if parent else None,
                             DEFAULT_REPEAT_INTERVAL),
        continue_=cfg.continue_,
        mute_intervals=tuple((n, intervals[n]) for n in cfg.mute_time_intervals),
        active_intervals=tuple((n, intervals[n]) for n in cfg.active_time_intervals),
    )
    route.routes = [_build(child, route, route_id, i, intervals) for i, child in enumerate(cfg.routes)]
    return route
