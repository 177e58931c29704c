"""The Dispatcher: alerts in, notifications out, with Alertmanager's routing, aggregation groups and timers,
inhibition, time intervals, silences and notification-log dedup.

Deterministic given (state, inputs, now): it never reads a clock. The caller feeds `ingest(alert, now)` for
each alert and `tick(now)` whenever `next_due()` has passed, and otherwise often (a loop turn: a tick with
nothing due costs a heap peek): the last tick's time is when idle groups' group_interval points count as
passed, so an alert for an idle group waits for the group's next point as Alertmanager's ticker makes it.
Both return the notifications to produce.

Everything that must survive a restart is written through to the state store as it changes:
  ag/<group id>            group: route id, group key, labels, next flush due time, flushed yet
  ga/<group id>/<fp>       an alert held by that group
  nf/<receiver>/<group id> notification log entry
  is/<fp>                  firing inhibition-source alert
A new Dispatcher on the same state re-arms every group's timer at its stored due time, so a restart in the
middle of group_wait sends the pending notification once, when it is due.

Timers (why idle groups cost nothing): a group's flushes lie on a grid, its last effective flush (one that
sent, resolved or was the group's first) + k x group_interval; the grid is what Alertmanager's ticker gives
when ticks are punctual. A flush of a group that got no alert since its last flush, while none of its alerts
resolves, no repeat or nflog expiry is due, no silence or (for a group that holds an inhibitable alert)
inhibition source changed, starts or ends, and its route's time intervals are in the same minute, sends
nothing and changes nothing, so nothing runs for it: the group's timer is armed only for the earliest of
  * its next grid point after an alert arrives (dirty), or group_wait for a new group;
  * its quiet-until time: the earliest alert end (resolve), nflog repeat or expiry, silence start or end,
    inhibition source end, or the next minute of a route with time intervals (boundaries are whole minutes);
  * its next grid point after a silence change (every group, once) or an inhibition change (the groups that
    hold an alert some inhibit rule targets, once), noticed by `tick` through the stores' versions.
A timer that fires before the group's grid point waits for it; the grid point a group is on is computed from
the last tick when needed (`_due`), never advanced per interval, so 20,000 idle groups cost nothing per tick
and a heap entry each only while something is pending. One heap entry per group at most is live (`timer`);
replaced entries are skipped when popped. Only an effective flush rewrites `ag/<gid>` ("n" = its next grid
point, which anchors the grid again after a restart). Produce the notifications a call
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
  * Upstream re-arms group_interval when its ticker fires, so every tick moves a group's schedule by the
    flush's latency; ours moves only with an effective flush (a late tick that sends nothing keeps the grid).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pipeline.envelope import seeded_fingerprint
from pipeline.metrics import ALERTS_SUPPRESSED, NOTIFICATIONS
from pipeline.notification import Notification
from pipeline.transforms.routing._inhibit import Inhibitor
from pipeline.transforms.routing._nflog import Entry, NotificationLog, needs_update
from pipeline.transforms.routing._timeintervals import is_active
from pipeline.transforms.routing._tree import Route, build_tree
from pipeline.transforms.routing.config import RoutingConfig
from pipeline.transforms.routing.notification import (
    REASON_FIRST,
    alert_set_hash,
    build_notification,
    notification_id,
)
from pipeline.transforms.routing.silences import SilenceStore
from pipeline.transforms.rules.alert import MAX_EVENT_IDS, Alert
from pipeline.transforms.rules.state import MemoryRuleState, RuleState

GROUP_PREFIX = "ag/"
GROUP_ALERT_PREFIX = "ga/"
MAINTENANCE_INTERVAL = 60.0
INF = math.inf


@dataclass(slots=True)
class _Group:
    gid: str
    key: str
    route: Route
    labels: dict[str, str]
    alerts: dict[str, Alert]
    next_due: float  # its next flush on the grid, as of the last tick that touched it (see Dispatcher._due)
    flushed: bool
    anchor: float = 0.0  # the grid: anchor + k x group_interval (k >= 0)
    timer: float = INF  # when its live heap entry fires (INF: none)
    dirty: bool = True  # an alert arrived since the last flush
    stale: bool = False  # a silence or inhibition change since the last flush
    quiet_until: float = 0.0  # before this, a flush of the unchanged group sends nothing and changes nothing

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
        self._inhibitable: set[str] = set()  # groups holding an alert that some inhibit rule targets
        self._heap: list[tuple[float, str]] = []  # (when, group id); live iff the group's `timer` is `when`
        self._last_tick = -INF
        self._versions = (self.silences.version, self._inhibitor.version)  # as the last tick saw them
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
                group = self._new_group(key, route, labels, now + route.group_wait)
            self._insert(group, alert, now)
            due = self._due(group)
            if due <= now:
                out.extend(self._flush(group, now))
            else:
                if created:
                    self.state.put(GROUP_PREFIX + group.gid, group.meta())
                self._arm(group, due)
        return out

    def tick(self, now: float) -> list[Notification]:
        """Flush every group whose timer is due at `now` (oldest due first, then by group id)."""
        out: list[Notification] = []
        groups, heap = self._groups, self._heap
        versions = (self.silences.version, self._inhibitor.version)
        if versions != self._versions:
            # a mute decision may have changed: every group a change can concern flushes at its next grid point
            concerned = groups.keys() if versions[0] != self._versions[0] else self._inhibitable
            self._versions = versions
            for gid in concerned:
                changed = groups[gid]
                changed.stale = True
                self._arm(changed, self._due(changed))
        due_now: list[tuple[float, str, _Group]] = []
        while heap and heap[0][0] <= now:
            when, gid = heapq.heappop(heap)
            group = groups.get(gid)
            if group is None or group.timer != when:
                continue  # replaced by an earlier timer, or the group is gone
            group.timer = INF
            due = self._due(group)
            if due > now:
                self._wake(group, due)  # quiet until now, but its grid point is later
            else:
                due_now.append((due, gid, group))
        if due_now:
            due_now.sort(key=_due_order)
            skip_idle = self._skip_idle
            for _, _, group in due_now:
                if skip_idle and not group.dirty and not group.stale and now < group.quiet_until:
                    # woken early (e.g. a silence change it does not concern): the flush would do nothing
                    group.next_due = _after(group.anchor, group.route.group_interval, now)
                    self._wake(group, group.next_due)
                    continue
                out.extend(self._flush(group, now))
        if now > self._last_tick:
            self._last_tick = now
        if self._next_maintenance is None or now >= self._next_maintenance:
            self._inhibitor.gc(now)
            self._nflog.gc(now)
            self._next_maintenance = now + MAINTENANCE_INTERVAL
        return out

    def next_due(self) -> float | None:
        """When the next tick has work (None: no timer); an idle group has none."""
        heap, groups = self._heap, self._groups
        while heap:
            when, gid = heap[0]
            group = groups.get(gid)
            if group is not None and group.timer == when:
                return when
            heapq.heappop(heap)
        return None

    def _due(self, group: _Group) -> float:
        """The group's next grid point as the ticks so far left it: the ticks that passed an idle group's grid
        points flushed nothing, so it is the first point after the last tick (computed, never stepped)."""
        due = group.next_due
        if due <= self._last_tick:
            due = group.next_due = _after(group.anchor, group.route.group_interval, self._last_tick)
        return due

    def _arm(self, group: _Group, when: float) -> None:
        if when < group.timer:
            group.timer = when
            heapq.heappush(self._heap, (when, group.gid))

    def _wake(self, group: _Group, due: float) -> None:
        """Arm the group's next flush that can do something: its grid point `due` once something changed,
        else the first grid point at or after its quiet-until time (the tick then finds the grid point)."""
        if group.dirty or group.stale or not self._skip_idle:
            self._arm(group, due)
        elif group.quiet_until < INF:
            self._arm(group, max(due, group.quiet_until))

    def _new_group(self, key: str, route: Route, labels: dict[str, str], due: float) -> _Group:
        group = _Group(gid=seeded_fingerprint(("exmail.group",), key), key=key, route=route, labels=labels, alerts={},
                       next_due=due, flushed=False, anchor=due)
        self._groups[group.gid] = group
        self._by_key[key] = group
        return group

    def groups(self) -> list[GroupInfo]:
        return [GroupInfo(g.gid, g.key, g.route.receiver, dict(g.labels), self._due(g), tuple(sorted(g.alerts)))
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
                        "labels": dict(g.labels), "next_due": self._due(g), "flushed": g.flushed,
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
        group.dirty = group.stale = False
        route = group.route
        until = min(a.ends_at for a in group.alerts.values())
        entry = self._nflog.get(route.receiver, group.gid, now)
        if entry is not None:
            until = min(until, entry.timestamp + route.repeat_interval, entry.expires_at)
        until = min(until, self.silences.next_change(now))
        if group.gid in self._inhibitable:
            until = min(until, self._inhibitor.next_change(now))
        if route.mute_intervals or route.active_intervals:
            until = min(until, _next_minute(route, now))
        group.quiet_until = until

    def _insert(self, group: _Group, alert: Alert, now: float) -> None:
        old = group.alerts.get(alert.fingerprint)
        if old is not None and _overlaps(old, alert):
            alert = _merge(old, alert, now)
        group.alerts[alert.fingerprint] = alert
        group.dirty = True
        if self._inhibitor.targets(alert.labels):
            self._inhibitable.add(group.gid)
        self.state.put(f"{GROUP_ALERT_PREFIX}{group.gid}/{alert.fingerprint}", alert.to_state())

    def _flush(self, group: _Group, now: float) -> list[Notification]:
        route = group.route
        was_flushed = group.flushed
        group.flushed = True
        alerts = sorted(group.alerts.values(), key=lambda a: (a.starts_at, a.fingerprint))
        resolved_now = [a.fingerprint for a in alerts if a.ends_at <= now]
        out = self._notify(group, alerts, now)
        for fp in resolved_now:
            del group.alerts[fp]
            self.state.delete(f"{GROUP_ALERT_PREFIX}{group.gid}/{fp}")
        if not group.alerts:
            del self._groups[group.gid]
            del self._by_key[group.key]
            self._inhibitable.discard(group.gid)
            self.state.delete(GROUP_PREFIX + group.gid)
            return out
        if out or resolved_now or not was_flushed:
            # an effective flush: the grid starts again here, and the stored due time anchors it after a restart
            group.anchor = group.next_due = now + route.group_interval
            self.state.put(GROUP_PREFIX + group.gid, group.meta())
        else:
            # nothing sent or changed: the stored group stays as it was (a restart flushes at its stale due
            # time, and the notification log finds nothing new); a state write per flush saved
            group.next_due = _after(group.anchor, route.group_interval, now)
        self._settle(group, now)
        self._wake(group, group.next_due)
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
        return [build_notification(
            id=notification_id(receiver, group.key, set_hash, sequence_start, sequence),
            receiver=receiver, group_key=group.key, group_id=group.gid, group_labels=group.labels,
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
                           flushed=meta["f"], anchor=meta["n"])
            self._groups[gid] = group
            self._by_key[group.key] = group
            if any(self._inhibitor.targets(a.labels) for a in alerts.values()):
                self._inhibitable.add(gid)
            self._arm(group, group.next_due)  # dirty: what it holds is flushed when due
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
                group = self._new_group(key, route, labels, due)
                self._arm(group, due)
            group.alerts[alert.fingerprint] = alert
            if self._inhibitor.targets(alert.labels):
                self._inhibitable.add(group.gid)
            self.state.put(f"{GROUP_ALERT_PREFIX}{group.gid}/{alert.fingerprint}", alert.to_state())
            self.state.put(GROUP_PREFIX + group.gid, group.meta())

    def _drop_stored(self, gid: str, alerts: dict[str, Alert]) -> None:
        for fp in alerts:
            self.state.delete(f"{GROUP_ALERT_PREFIX}{gid}/{fp}")
        self.state.delete(GROUP_PREFIX + gid)


def _after(anchor: float, interval: float, t: float) -> float:
    """The first grid point anchor + k x interval (k >= 0) later than `t`; the same value however often it
    is asked (no stepping, so no rounding drift)."""
    if t < anchor:
        return anchor
    k = math.floor((t - anchor) / interval) + 1
    while anchor + k * interval <= t:
        k += 1
    while k > 1 and anchor + (k - 1) * interval > t:
        k -= 1
    return anchor + k * interval


def _due_order(item: tuple[float, str, _Group]) -> tuple[float, str]:
    return item[0], item[1]


def _next_minute(route: Route, now: float) -> float:
    """The next whole minute in any time zone of the route's time intervals: times are minutes of the day,
    and days, months and years change at midnight, so whether an interval is active changes only then."""
    until = INF
    for _, specs in (*route.mute_intervals, *route.active_intervals):
        for spec in specs:
            t = datetime.fromtimestamp(now, spec.location)
            until = min(until, now + 60 - t.second - t.microsecond / 1e6)
    return until


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
