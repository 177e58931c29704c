"""Query filters (`?receiver=ops&severity=critical`) and what each one matches in a record of each kind.

Different filter names AND together; repeating one name (`?severity=critical&severity=high`) ORs its values.
A record matches a filter when any of the filter's fields in that record equals one of the values (exact,
case-sensitive). A filter that has no fields in a kind (e.g. `dataset` on notifications) never matches it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

ANY_LABEL = "label.*"
_LABEL_NAME = re.compile(r"^label\.([A-Za-z_][A-Za-z0-9_]*)$")

Record = Mapping[str, Any]
Extractor = Callable[[Record], Iterable[Any]]


class FilterError(ValueError):
    """A query names an unknown filter or gives an empty value; `allowed` lists what the endpoint accepts."""

    def __init__(self, message: str, allowed: Iterable[str]) -> None:
        super().__init__(message)
        self.allowed = sorted(allowed)


def _obj(value: Any, key: str) -> Mapping[str, Any]:
    got = value.get(key) if isinstance(value, Mapping) else None
    return got if isinstance(got, Mapping) else {}


def _data(record: Record) -> Mapping[str, Any]:
    return _obj(record, "data")


def _notification_label_sets(record: Record) -> Iterator[Mapping[str, Any]]:
    data = _data(record)
    yield _obj(data, "group_labels")
    yield _obj(data, "common_labels")
    alerts = data.get("alerts")
    for alert in alerts if isinstance(alerts, list) else ():
        yield _obj(alert, "labels")


def _notification_label(name: str) -> Extractor:
    return lambda r: (labels.get(name) for labels in _notification_label_sets(r))


def _alert_label(name: str) -> Extractor:
    return lambda r: (_obj(_data(r), "labels").get(name),)


def _event_label(name: str) -> Extractor:
    return lambda r: (_obj(_data(r), "labels").get(name),)


def _path(*keys: str) -> Extractor:
    def extract(record: Record) -> Iterable[Any]:
        value: Any = _data(record)
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value if isinstance(value, list) else (value,)
    return extract


def _notification_severity(record: Record) -> Iterable[Any]:
    yield from _notification_label("severity")(record)
    alerts = _data(record).get("alerts")
    for alert in alerts if isinstance(alerts, list) else ():
        if isinstance(alert, Mapping):
            yield alert.get("severity")


def _corp_id(record: Record) -> Iterable[Any]:
    return (record.get("corp_id"),)


def _chain(*extractors: Extractor) -> Extractor:
    return lambda r: (v for e in extractors for v in e(r))


FILTERS: dict[str, dict[str, Extractor]] = {
    "receiver": {"notification": _path("receiver"), "delivery": _path("receiver")},
    "corp": {
        "notification": _chain(_corp_id, _notification_label("corp")),
        "alert": _chain(_corp_id, _alert_label("corp")),
        "event": _chain(_corp_id, _path("organization", "id")),
    },
    "severity": {"notification": _notification_severity, "alert": _alert_label("severity")},
    "alertname": {"notification": _notification_label("alertname"), "alert": _alert_label("alertname")},
    "user": {
        "notification": _notification_label("user"),
        "alert": _alert_label("user"),
        "event": _chain(_path("user", "email"), _path("user", "id")),
    },
    "status": {"notification": _path("status"), "alert": _path("status"), "delivery": _path("status")},
    "rule": {"alert": _path("rule")},
    "group_key": {"notification": _path("group_key"), "delivery": _path("group_key")},
    "dataset": {"event": _path("event", "dataset")},
    "action": {"event": _path("event", "action")},
    "outcome": {"event": _path("event", "outcome")},
    "category": {"event": _path("event", "category")},
}
_LABEL_EXTRACTORS: dict[str, Callable[[str], Extractor]] = {
    "notification": _notification_label, "alert": _alert_label, "event": _event_label,
}


def is_known_filter(name: str) -> bool:
    return name in FILTERS or name == ANY_LABEL or _LABEL_NAME.match(name) is not None


def allowed_for(kinds: Iterable[str] | None) -> frozenset[str]:
    """Every filter that matches something in at least one of `kinds` (None: all kinds)."""
    wanted = None if kinds is None else set(kinds)
    names = {n for n, by_kind in FILTERS.items() if wanted is None or wanted & by_kind.keys()}
    return frozenset({*names, ANY_LABEL})


def permits(allowed: frozenset[str], name: str) -> bool:
    return name in allowed or (ANY_LABEL in allowed and _LABEL_NAME.match(name) is not None)


def _extractor(name: str, kind: str) -> Extractor | None:
    label = _LABEL_NAME.match(name)
    if label is not None:
        make = _LABEL_EXTRACTORS.get(kind)  # deliveries carry no labels: a label filter never matches them
        return make(label.group(1)) if make is not None else None
    return FILTERS.get(name, {}).get(kind)


class RecordFilter:
    """The parsed filters of one client; `matches(kind, record)` on the decoded envelope."""

    def __init__(self, criteria: Mapping[str, frozenset[str]]) -> None:
        self.criteria = dict(criteria)
        self._by_kind: dict[str, list[tuple[Extractor, frozenset[str]]] | None] = {}

    def __bool__(self) -> bool:
        return bool(self.criteria)

    def _compiled(self, kind: str) -> list[tuple[Extractor, frozenset[str]]] | None:
        if kind not in self._by_kind:
            pairs = [(_extractor(name, kind), values) for name, values in self.criteria.items()]
            complete = all(e is not None for e, _ in pairs)
            self._by_kind[kind] = [(e, v) for e, v in pairs if e is not None] if complete else None
        return self._by_kind[kind]

    def matches(self, kind: str, record: Record) -> bool:
        compiled = self._compiled(kind)
        if compiled is None:
            return False
        return all(any(isinstance(v, str) and v in values for v in extractor(record))
                   for extractor, values in compiled)


def parse_filters(query: Iterable[tuple[str, str]], allowed: frozenset[str],
                  reserved: frozenset[str]) -> RecordFilter:
    """Query pairs -> RecordFilter; `reserved` names (from, since, ...) are skipped. Raises FilterError."""
    criteria: dict[str, set[str]] = {}
    listed = sorted(allowed)
    for name, value in query:
        if name in reserved:
            continue
        if not permits(allowed, name):
            raise FilterError(f"unknown filter {name!r}; allowed filters: {', '.join(listed)}", listed)
        if value == "":
            raise FilterError(f"filter {name!r} needs a value", listed)
        criteria.setdefault(name, set()).add(value)
    return RecordFilter({n: frozenset(v) for n, v in criteria.items()})
