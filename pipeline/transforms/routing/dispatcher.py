"""The Dispatcher: alerts in, notifications out, with Alertmanager's routing, aggregation groups and timers,
inhibition, time intervals, silences and notification-log dedup.

Deterministic given (state, inputs, now): it never reads a clock. The caller feeds `ingest(alert, now)` for
each alert and `tick(now)` whenever `next_due()` has passed; both return the notifications to produce.

Everything that must survive a restart is written through to the state store as it changes:
  ag/<group id>            group: route id, group key, labels, next flush due time, flushed yet
  ga/<group id>/<fp>       an alert held by that group
  nf/<receiver>/<group id> notification log entry
  is/<fp>                  firing inhibition-source alert
A new Dispatcher on the same state re-arms every group's timer at its stored due time, so a restart in the
middle of group_wait sends the pending notification once, when it is due.

Idle flushes are skipped: a group_interval tick of a group that got no alert since its last flush, while no
alert of it resolves, no repeat or nflog expiry is due, no silence or inhibition source changed or starts or
ends, and its route has no time intervals, can only send nothing and change nothing, so the tick only re-arms
the timer (as the flush would have) without running the notify pipeline. The groups one tick re-arms share one
heap entry (they are due again at the same time), so 20,000 idle groups with group_interval 1s cost 20,000 list
appends a second, not 20,000 flushes or heap sifts. Produce the notifications a call
returns before committing the state it wrote (or use faust's exactly-once guarantee); a notification emitted
twice after a crash keeps its id.

Deviations from Alertmanager, on purpose:
  * A new group is not flushed early when its first alert's starts_at is older than group_wait: our
    starts_at is the event time, which lags by the poll interval, so that rule would defeat group_wait; it
    exists upstream to recover after restarts, which persisted groups make unnecessary.
  * A group is removed as soon as a flush leaves it empty (upstream: at the next 30 s maintenance).
  * A resolved alert that no group holds creates no group (it could only produce "nothing to send").
  * Group keys use the route's unique id (matchers + sibling index), so sibling routes with identical
    matchers never share an nflog entry.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Any

from pipeline.envelope import fingerprint
from pipeline.metrics import ALERTS_SUPPRESSED, NOTIFICATIONS
from pipeline.transforms.routing._inhibit import Inhibitor
from pipeline.transforms.routing._nflog import Entry, NotificationLog, needs_update
from pipeline.transforms.routing._timeintervals import is_active
from pipeline.transforms.routing._tree import Route, build_tree
from pipeline.transforms.routing.config import RoutingConfig
from pipeline.transforms.routing.notification import REASON_FIRST, Notification, alert_set_hash, notification_id
from pipeline.transforms.routing.silences import SilenceStore
from pipeline.transforms.rules.alert import MAX_EVENT_IDS, Alert
from pipeline.transforms.rules.state import MemoryRuleState, RuleState

GROUP_PREFIX = "ag/"
GROUP_ALERT_PREFIX = "ga/"
MAINTENANCE_INTERVAL = 60.0


@dataclass(slots=True)
class _Group:
    gid: str
    key: str
    route: Route
    labels: dict[str, str]
    alerts: dict[str, Alert]
    next_due: float
    flushed: bool
    dirty: bool = True  # an alert arrived since the last flush
    quiet_until: float = 0.0  # before this, a flush of the unchanged group sends nothing and changes nothing
    versions: tuple[int, int] = (-1, -1)  # (silences, inhibition) versions at the last flush

    def meta(self) -> dict[str, Any]:
        return {"r": self.route.id, "k": self.key, "l": self.labels, "n": self.next_due, "f": self.flushed}


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A read-only view of one aggregation group (for APIs, tests and debugging)."""

    group_id: str
    group_key: str
    receiver: str
    labels: dict[str, str]
    next_due: float
    fingerprints: tuple[str, ...]


class Dispatcher:
    def __init__(self, config: RoutingConfig, state: RuleState | None = None,
                 silences: SilenceStore | None = None, *, skip_idle_flushes: bool = True) -> None:
        self.config = config
        self.state: RuleState = state if state is not None else MemoryRuleState()
        self.silences = silences if silences is not None else SilenceStore()
        self.tree = build_tree(config.route, config.intervals())
        self._routes = {r.id: r for r in self.tree.walk()}
        self._send_resolved = config.send_resolved()
        self._inhibitor = Inhibitor(config.inhibit_rules, self.state)
        self._nflog = NotificationLog(self.state, config.notification_log_retention)
        self._groups: dict[str, _Group] = {}
        self._by_key: dict[str, _Group] = {}
        # timers: (due, sequence, group ids); the groups an idle tick re-arms together share one entry
        self._heap: list[tuple[float, int, list[str]]] = []
        self._seq = itertools.count()
        self._next_maintenance: float | None = None
        self._counters: dict[tuple[str, str], Any] = {}
        self._skip_idle = skip_idle_flushes  # False: flush every tick (the reference behaviour, for tests)
        self._load()

    # --- public API

    def ingest(self, alert: Alert, now: float) -> list[Notification]:
        """Route one alert into its groups; returns notifications due right now (group_wait 0, overdue groups)."""
        self._inhibitor.observe(alert, now)
        out: list[Notification] = []
        for route in self.tree.match(alert.labels):
            labels = route.group_labels(alert.labels)
            key = route.id + ":" + _labels_string(labels)
            group = self._by_key.get(key)
            created = group is None
            if group is None:
                if alert.ends_at <= now:
                    continue
                group = _Group(gid=fingerprint("exmail.group", key), key=key, route=route, labels=labels,
                               alerts={}, next_due=now + route.group_wait, flushed=False)
                self._groups[group.gid] = group
                self._by_key[key] = group
            self._insert(group, alert, now)
            if group.next_due <= now:
                out.extend(self._flush(group, now))
            elif created:
                self.state.put(GROUP_PREFIX + group.gid, group.meta())
                self._arm(group, group.next_due)
        return out

    def tick(self, now: float) -> list[Notification]:
        """Flush every group whose timer is due at `now` (oldest due first, then by group id)."""
        out: list[Notification] = []
        heap = self._heap
        due_now: list[tuple[float, str]] = []
        while heap and heap[0][0] <= now:
            due, _, gids = heapq.heappop(heap)
            due_now.extend((due, gid) for gid in gids)
        if due_now:
            versions = (self.silences.version, self._inhibitor.version)
            rearmed: dict[float, list[str]] = {}
            due_now.sort()
            for due, gid in due_now:
                group = self._groups.get(gid)
                if group is None or group.next_due != due:
                    continue  # a stale timer: the group was flushed, re-armed or removed since
                if self._skip_idle and not group.dirty and now < group.quiet_until and group.versions == versions:
                    # what the idle flush would have done; the groups re-armed by one tick share one heap entry,
                    # so an idle group costs a list append per interval, not a heap sift
                    group.next_due = now + group.route.group_interval
                    rearmed.setdefault(group.next_due, []).append(gid)
                    continue
                out.extend(self._flush(group, now))
            for due, gids in rearmed.items():
                heapq.heappush(heap, (due, next(self._seq), gids))
        if self._next_maintenance is None or now >= self._next_maintenance:
            self._inhibitor.gc(now)
            self._nflog.gc(now)
            self._next_maintenance = now + MAINTENANCE_INTERVAL
        return out

    def next_due(self) -> float | None:
        heap, groups = self._heap, self._groups
        while heap:
            due, _, gids = heap[0]
            for gid in gids:
                group = groups.get(gid)
                if group is not None and group.next_due == due:
                    return due
            heapq.heappop(heap)
        return None

    def _arm(self, group: _Group, due: float) -> None:
        heapq.heappush(self._heap, (due, next(self._seq), [group.gid]))

    def groups(self) -> list[GroupInfo]:
        return [GroupInfo(g.gid, g.key, g.route.receiver, dict(g.labels), g.next_due, tuple(sorted(g.alerts)))
                for g in sorted(self._groups.values(), key=lambda g: g.key)]

    def view(self, now: float) -> list[dict[str, Any]]:
        """Every group as the console shows it: receiver, route timers, next flush, and each alert with what
        mutes it now (the same inhibitor and silences the notify pipeline asks)."""
        out: list[dict[str, Any]] = []
        for g in sorted(self._groups.values(), key=lambda g: g.key):
            r = g.route
            alerts = []
            for a in sorted(g.alerts.values(), key=lambda a: (a.starts_at, a.fingerprint)):
                alerts.append({**a.to_dict(now), "inhibited_by": self._inhibitor.mutes(a.labels, now),
                               "silenced_by": self.silences.mutes(a.labels, now)})
            out.append({"group_id": g.gid, "group_key": g.key, "receiver": r.receiver, "route_id": r.id,
                        "labels": dict(g.labels), "next_due": g.next_due, "flushed": g.flushed,
                        "timers": {"group_wait": r.group_wait, "group_interval": r.group_interval,
                                   "repeat_interval": r.repeat_interval},
                        "time_muted": self._time_muted(r, now), "alerts": alerts})
        return out

    def routes_for(self, labels: dict[str, str]) -> list[str]:
        """Receivers an alert with these labels would go to (for config testing, like amtool config routes)."""
        return [r.receiver for r in self.tree.match(labels)]

    # --- internals

    def _settle(self, group: _Group, now: float) -> None:
        """After a flush: until when a flush of the unchanged group would send nothing and change nothing."""
        group.dirty = False
        group.versions = (self.silences.version, self._inhibitor.version)
        route = group.route
        if route.mute_intervals or route.active_intervals or not group.alerts:
            group.quiet_until = now
            return
        until = min(a.ends_at for a in group.alerts.values())
        entry = self._nflog.get(route.receiver, group.gid, now)
        if entry is not None:
            until = min(until, entry.timestamp + route.repeat_interval, entry.expires_at)
        group.quiet_until = min(until, self.silences.next_change(now), self._inhibitor.next_change(now))

    def _insert(self, group: _Group, alert: Alert, now: float) -> None:
        old = group.alerts.get(alert.fingerprint)
        if old is not None and _overlaps(old, alert):
            alert = _merge(old, alert, now)
        group.alerts[alert.fingerprint] = alert
        group.dirty = True
        self.state.put(f"{GROUP_ALERT_PREFIX}{group.gid}/{alert.fingerprint}", alert.to_state())

    def _flush(self, group: _Group, now: float) -> list[Notification]:
        route = group.route
        was_flushed = group.flushed
        group.next_due = now + route.group_interval
        group.flushed = True
        self._arm(group, group.next_due)
        alerts = sorted(group.alerts.values(), key=lambda a: (a.starts_at, a.fingerprint))
        resolved_now = [a.fingerprint for a in alerts if a.ends_at <= now]
        out = self._notify(group, alerts, now)
        for fp in resolved_now:
            del group.alerts[fp]
            self.state.delete(f"{GROUP_ALERT_PREFIX}{group.gid}/{fp}")
        if self._skip_idle:
            self._settle(group, now)
        if group.alerts:
            # An idle tick only moves next_due; not persisting it is safe (after a restart the stale due time
            # flushes at once and the notification log finds nothing new) and saves a state write per group
            # per group_interval.
            if out or resolved_now or not was_flushed:
                self.state.put(GROUP_PREFIX + group.gid, group.meta())
        else:
            del self._groups[group.gid]
            del self._by_key[group.key]
            self.state.delete(GROUP_PREFIX + group.gid)
        return out

    def _notify(self, group: _Group, alerts: list[Alert], now: float) -> list[Notification]:
        """The notify pipeline: inhibit, time-active, time-mute, silence, dedup; logs to the nflog."""
        route = group.route
        visible = [a for a in alerts if self._inhibitor.mutes(a.labels, now) is None]
        if len(visible) < len(alerts):
            ALERTS_SUPPRESSED.labels("inhibited").inc(len(alerts) - len(visible))
        if visible and self._time_muted(route, now):
            ALERTS_SUPPRESSED.labels("time_interval").inc(len(visible))
            visible = []
        if visible:
            before = len(visible)
            visible = [a for a in visible if self.silences.mutes(a.labels, now) is None]
            if len(visible) < before:
                ALERTS_SUPPRESSED.labels("silenced").inc(before - len(visible))
        if not visible:
            return []
        firing = frozenset(a.fingerprint for a in visible if a.ends_at > now)
        resolved = frozenset(a.fingerprint for a in visible if a.ends_at <= now)
        receiver = route.receiver
        send_resolved = self._send_resolved.get(receiver, False)
        entry = self._nflog.get(receiver, group.gid, now)
        reason = needs_update(entry, firing, resolved, send_resolved, route.repeat_interval, now)
        if reason is None:
            return []
        if reason == REASON_FIRST or entry is None:
            sequence, sequence_start = 0, now
        else:
            sequence, sequence_start = entry.sequence + 1, entry.sequence_start
        set_hash = alert_set_hash(list(firing), list(resolved))
        self._nflog.log(receiver, group.gid, Entry(firing, resolved, set_hash, now,
                                                   self._nflog.expiry(now, route.repeat_interval),
                                                   sequence, sequence_start))
        if not send_resolved:
            if not firing:
                return []
            visible = [a for a in visible if a.fingerprint in firing]
            resolved = frozenset()
        self._count(receiver, reason)
        return [Notification(
            id=notification_id(receiver, group.key, set_hash, sequence_start, sequence),
            receiver=receiver, group_key=group.key, group_id=group.gid, group_labels=dict(group.labels),
            route_id=route.id, reason=reason, sequence=sequence, sequence_start=sequence_start, created_at=now,
            alerts=visible, resolved=resolved,
        )]

    def _time_muted(self, route: Route, now: float) -> bool:
        if any(is_active(specs, now) for _, specs in route.mute_intervals):
            return True
        return bool(route.active_intervals) and not any(is_active(specs, now) for _, specs in route.active_intervals)

    def _count(self, receiver: str, reason: str) -> None:
        child = self._counters.get((receiver, reason))
        if child is None:
            child = self._counters[(receiver, reason)] = NOTIFICATIONS.labels(receiver, reason)
        child.inc()

    def _load(self) -> None:
        """Rebuild groups and timers from the state store; groups whose route or grouping changed with the
        config are dissolved and their alerts re-routed, due no later than the old group was."""
        alerts_by_gid: dict[str, dict[str, Alert]] = {}
        for key, value in self.state.items(GROUP_ALERT_PREFIX):
            gid, _, fp = key[len(GROUP_ALERT_PREFIX):].partition("/")
            alerts_by_gid.setdefault(gid, {})[fp] = Alert.from_state(value)
        orphans: list[tuple[float, Alert]] = []
        for key, meta in list(self.state.items(GROUP_PREFIX)):
            gid = key[len(GROUP_PREFIX):]
            alerts = alerts_by_gid.pop(gid, {})
            route = self._routes.get(meta["r"])
            labels = meta["l"]
            if route is None or meta["k"] != route.id + ":" + _labels_string(labels):
                orphans.extend((meta["n"], a) for a in alerts.values())
                self._drop_stored(gid, alerts)
                continue
            for fp, alert in list(alerts.items()):
                if route.group_labels(alert.labels) != labels or all(
                        r is not route for r in self.tree.match(alert.labels)):
                    orphans.append((meta["n"], alerts.pop(fp)))
                    self.state.delete(f"{GROUP_ALERT_PREFIX}{gid}/{fp}")
            if not alerts:
                self._drop_stored(gid, {})
                continue
            group = _Group(gid=gid, key=meta["k"], route=route, labels=labels, alerts=alerts, next_due=meta["n"],
                           flushed=meta["f"])
            self._groups[gid] = group
            self._by_key[group.key] = group
            self._arm(group, group.next_due)
        for gid, alerts in alerts_by_gid.items():
            self._drop_stored(gid, alerts)
        for due, alert in sorted(orphans, key=lambda x: (x[0], x[1].fingerprint)):
            self._reroute(alert, due)

    def _reroute(self, alert: Alert, due: float) -> None:
        for route in self.tree.match(alert.labels):
            labels = route.group_labels(alert.labels)
            key = route.id + ":" + _labels_string(labels)
            group = self._by_key.get(key)
            if group is None:
                group = _Group(gid=fingerprint("exmail.group", key), key=key, route=route, labels=labels,
                               alerts={}, next_due=due, flushed=False)
                self._groups[group.gid] = group
                self._by_key[key] = group
                self._arm(group, due)
            group.alerts[alert.fingerprint] = alert
            self.state.put(f"{GROUP_ALERT_PREFIX}{group.gid}/{alert.fingerprint}", alert.to_state())
            self.state.put(GROUP_PREFIX + group.gid, group.meta())

    def _drop_stored(self, gid: str, alerts: dict[str, Alert]) -> None:
        for fp in alerts:
            self.state.delete(f"{GROUP_ALERT_PREFIX}{gid}/{fp}")
        self.state.delete(GROUP_PREFIX + gid)


def _labels_string(labels: dict[str, str]) -> str:
    """Alertmanager's LabelSet.String(): {a="1", b="2"} sorted by name."""
    if not labels:
        return "{}"
    return "{" + ", ".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return value


def _overlaps(old: Alert, new: Alert) -> bool:
    """Alertmanager's provider merges an incoming alert into the stored one when their activity overlaps."""
    return (old.starts_at < new.ends_at < old.ends_at) or (old.starts_at < new.starts_at < old.ends_at) or (
        new.starts_at == old.starts_at)


def _merge(old: Alert, new: Alert, now: float) -> Alert:
    """types.Alert.Merge with `new` the younger: earliest start; the later end unless the younger resolved it."""
    ends_at = new.ends_at
    if new.ends_at <= now:
        if old.ends_at <= now and old.ends_at > new.ends_at:
            ends_at = old.ends_at
    elif old.ends_at > new.ends_at:
        ends_at = old.ends_at
    ids = list(dict.fromkeys([*old.event_ids, *new.event_ids]))[-MAX_EVENT_IDS:]
    return Alert(labels=new.labels, annotations=new.annotations, starts_at=min(old.starts_at, new.starts_at),
                 ends_at=ends_at, rule=new.rule, fingerprint=new.fingerprint, event_ids=ids, action=new.action,
                 sso_user=new.sso_user)
