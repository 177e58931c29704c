"""The keyed state the alerting core keeps between records, behind a Protocol a faust table can implement.

Keys are short strings with a prefix per kind of state (`r/` rule windows and first-seen sets, `ag/` `ga/`
`nf/` `is/` routing groups, grouped alerts, notification log, inhibition sources); values are small JSON
values (dicts, lists, strings, numbers). Values handed to `put` are never mutated afterwards by their writer,
so an implementation may keep the object itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any, Protocol, runtime_checkable

import orjson

JSONValue = Any


@runtime_checkable
class RuleState(Protocol):
    """get/put/delete by key; `items(prefix)` is only used once at start-up to rebuild in-memory indexes."""

    def get(self, key: str) -> JSONValue | None: ...

    def put(self, key: str, value: JSONValue) -> None: ...

    def delete(self, key: str) -> None: ...

    def items(self, prefix: str = "") -> Iterator[tuple[str, JSONValue]]: ...


class MemoryRuleState:
    """A dict. With `json_roundtrip=True` every value is stored as orjson bytes, which proves values are
    JSON-able and that nothing depends on object identity (what a faust table with a changelog gives)."""

    def __init__(self, initial: Mapping[str, JSONValue] | None = None, *, json_roundtrip: bool = False) -> None:
        self._json = json_roundtrip
        self._data: dict[str, Any] = {}
        for key, value in (initial or {}).items():
            self.put(key, value)

    def get(self, key: str) -> JSONValue | None:
        value = self._data.get(key)
        if value is not None and self._json:
            return orjson.loads(value)
        return value

    def put(self, key: str, value: JSONValue) -> None:
        if not isinstance(key, str) or not key:
            raise TypeError(f"state keys must be non-empty strings, got {key!r}")
        self._data[key] = orjson.dumps(value) if self._json else value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def items(self, prefix: str = "") -> Iterator[tuple[str, JSONValue]]:
        for key in [k for k in self._data if k.startswith(prefix)]:
            yield key, self.get(key)

    def snapshot(self) -> dict[str, JSONValue]:
        """A JSON-able copy of everything (what a changelog replay would rebuild)."""
        return {k: orjson.loads(v) if self._json else orjson.loads(orjson.dumps(v)) for k, v in self._data.items()}

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data


class RuleStateUnavailable(RuntimeError):
    """The state store could not be read or written (e.g. a table whose changelog topic is missing). Not the
    event's fault: the caller waits and retries the event; it is never dead-lettered."""


class TableRuleState:
    """RuleState over a bytes -> bytes mapping (the rules agent's faust table: str keys, JSON values), written
    only inside stream events. Any failure of the mapping itself is raised as RuleStateUnavailable."""

    def __init__(self, table: MutableMapping[bytes, bytes]) -> None:
        self._table = table

    def get(self, key: str) -> JSONValue | None:
        try:
            raw = self._table.get(key.encode())
        except Exception as exc:
            raise RuleStateUnavailable(f"reading rule state failed: {type(exc).__name__}: {exc}") from exc
        return None if raw is None else orjson.loads(raw)

    def put(self, key: str, value: JSONValue) -> None:
        try:
            self._table[key.encode()] = orjson.dumps(value)
        except Exception as exc:
            raise RuleStateUnavailable(f"writing rule state failed: {type(exc).__name__}: {exc}") from exc

    def delete(self, key: str) -> None:
        try:
            self._table.pop(key.encode(), None)
        except Exception as exc:
            raise RuleStateUnavailable(f"writing rule state failed: {type(exc).__name__}: {exc}") from exc

    def items(self, prefix: str = "") -> Iterator[tuple[str, JSONValue]]:
        p = prefix.encode()
        try:
            stored = list(self._table.items())
        except Exception as exc:
            raise RuleStateUnavailable(f"reading rule state failed: {type(exc).__name__}: {exc}") from exc
        for k, v in stored:
            if k.startswith(p):
                yield k.decode(), orjson.loads(v)
