"""Alert routing with Alertmanager semantics: alerts (exmail.alerts) in, notifications (exmail.notifications) out.

Routing tree, aggregation groups with group_wait / group_interval / repeat_interval, inhibition, time
intervals, silences and a notification log, all deterministic and persisted through the RuleState Protocol.

Names are imported lazily so `pipeline silence ...` (routing/cli.py) starts without pydantic or aiohttp.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipeline.lazy import lazy_attributes

if TYPE_CHECKING:
    from pipeline.notification import NOTIFICATION_SCHEMA, Notification
    from pipeline.transforms.routing.config import (
        InhibitRuleConfig,
        ReceiverConfig,
        RouteConfig,
        RoutingConfig,
        RoutingConfigError,
        load_routing_config,
        parse_routing_config,
    )
    from pipeline.transforms.routing.dispatcher import Dispatcher, GroupInfo
    from pipeline.transforms.routing.http import create_silences_app
    from pipeline.transforms.routing.matchers import Matcher, MatcherError, parse_matchers
    from pipeline.transforms.routing.notification import REASONS, build_notification
    from pipeline.transforms.routing.silences import (
        Silence,
        SilenceChange,
        SilenceError,
        SilenceNotFound,
        SilenceStore,
    )
    from pipeline.transforms.routing.timer import TickLoop

_WHERE = {
    "config": ["InhibitRuleConfig", "ReceiverConfig", "RouteConfig", "RoutingConfig", "RoutingConfigError",
               "load_routing_config", "parse_routing_config"],
    "dispatcher": ["Dispatcher", "GroupInfo"],
    "http": ["create_silences_app"],
    "matchers": ["Matcher", "MatcherError", "parse_matchers"],
    "notification": ["NOTIFICATION_SCHEMA", "REASONS", "Notification", "build_notification"],
    "silences": ["Silence", "SilenceChange", "SilenceError", "SilenceNotFound", "SilenceStore"],
    "timer": ["TickLoop"],
}

__all__ = [
    "NOTIFICATION_SCHEMA",
    "REASONS",
    "Dispatcher",
    "GroupInfo",
    "InhibitRuleConfig",
    "Matcher",
    "MatcherError",
    "Notification",
    "ReceiverConfig",
    "RouteConfig",
    "RoutingConfig",
    "RoutingConfigError",
    "Silence",
    "SilenceChange",
    "SilenceError",
    "SilenceNotFound",
    "SilenceStore",
    "TickLoop",
    "build_notification",
    "create_silences_app",
    "load_routing_config",
    "parse_matchers",
    "parse_routing_config",
]


__getattr__ = lazy_attributes(__name__, _WHERE)
