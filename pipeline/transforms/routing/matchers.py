"""Alertmanager label matchers: `name="value"`, `name!="value"`, `name=~"regex"`, `name!~"regex"`.

Accepted as in Alertmanager's docs ("Label matchers"): one matcher or a comma-separated list, optionally in
braces (`{a="b", c=~"d",}`), names and values double-quoted or unquoted, Go-style escapes in quoted strings.
Regexes are anchored at both ends. A missing label matches as the empty string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OPERATORS = ("=", "!=", "=~", "!~")
_RESERVED = set(' \t\r\n{}!=~,\\"\'`')
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
            "v": "\v"}


class MatcherError(ValueError):
    """A matcher string does not parse; the message quotes the input and says where."""


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, op: str, value: str) -> Matcher:
        if op not in OPERATORS:
            raise MatcherError(f"unknown matcher operator {op!r}; use one of {', '.join(OPERATORS)}")
        if not name:
            raise MatcherError("a matcher needs a label name")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"(?:{value})", re.DOTALL)
            except re.error as exc:
                raise MatcherError(f"{name}{op}{_quote(value)}: regex does not compile: {exc}") from exc
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        op = self.op
        if op == "=":
            return v == self.value
        if op == "!=":
            return v != self.value
        assert self._regex is not None
        hit = self._regex.fullmatch(v) is not None
        return hit if op == "=~" else not hit

    def matches_empty(self) -> bool:
        return self.matches({})

    def __str__(self) -> str:
        return f"{self.name}{self.op}{_quote(self.value)}"

    def to_api(self) -> dict[str, Any]:
        """Alertmanager API v2 shape."""
        return {"name": self.name, "value": self.value, "isRegex": self.op in ("=~", "!~"),
                "isEqual": self.op in ("=", "=~")}

    @classmethod
    def from_api(cls, obj: Any) -> Matcher:
        if isinstance(obj, str):
            found = parse_matchers(obj)
            if len(found) != 1:
                raise MatcherError(f"expected exactly one matcher in {obj!r}, found {len(found)}")
            return found[0]
        if not isinstance(obj, dict):
            raise MatcherError(f"a matcher must be a string or an object, got {type(obj).__name__}")
        name, value = obj.get("name"), obj.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise MatcherError("a matcher object needs string 'name' and 'value'")
        is_regex, is_equal = obj.get("isRegex", False), obj.get("isEqual", True)
        if not isinstance(is_regex, bool) or not isinstance(is_equal, bool):
            raise MatcherError("matcher 'isRegex' and 'isEqual' must be booleans")
        op = ("=~" if is_equal else "!~") if is_regex else ("=" if is_equal else "!=")
        return cls.create(name, op, value)


def matchers_string(matchers: Iterable[Matcher]) -> str:
    return "{" + ",".join(str(m) for m in matchers) + "}"


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def parse_matchers(text: str) -> list[Matcher]:
    """Parse `a="b", c=~"d"` or `{a="b",c=~"d",}`; an empty string is no matchers."""
    s = text.strip()
    opened, closed = s.startswith("{"), s.endswith("}")
    if opened != closed:
        raise MatcherError(f"{text!r}: braces must be both present or both absent")
    if opened:
        s = s[1:-1]
    return _Parser(s, text).parse()


def parse_matcher_list(items: Iterable[str]) -> list[Matcher]:
    out: list[Matcher] = []
    for item in items:
        out.extend(parse_matchers(item))
    return out


def _quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _Parser:
    def __init__(self, s: str, original: str) -> None:
        self.s, self.i, self.original = s, 0, original

    def error(self, what: str) -> MatcherError:
        return MatcherError(f"{self.original!r}: {what} at position {self.i}")

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def parse(self) -> list[Matcher]:
        out: list[Matcher] = []
        self.ws()
        while self.i < len(self.s):
            name = self.quoted() if self.peek() == '"' else self.literal("label name")
            self.ws()
            op = self.operator()
            self.ws()
            value = self.quoted() if self.peek() == '"' else self.unquoted_value()
            out.append(Matcher.create(name, op, value))
            self.ws()
            if self.i < len(self.s):
                if self.s[self.i] != ",":
                    raise self.error("expected ',' between matchers")
                self.i += 1
                self.ws()
        return out

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def literal(self, what: str) -> str:
        start = self.i
        while self.i < len(self.s) and self.s[self.i] not in _RESERVED:
            self.i += 1
        if self.i == start:
            raise self.error(f"expected {what}")
        return self.s[start:self.i]

    def operator(self) -> str:
        for op in ("=~", "!~", "!=", "="):
            if self.s.startswith(op, self.i):
                self.i += len(op)
                return op
        raise self.error("expected one of =, !=, =~, !~")

    def unquoted_value(self) -> str:
        """Classic-mode value: everything up to the next comma (so `a=~mysql|cassandra` works), trimmed."""
        start = self.i
        while self.i < len(self.s) and self.s[self.i] != ",":
            if self.s[self.i] == '"':
                raise self.error("unexpected '\"' inside an unquoted value")
            self.i += 1
        return self.s[start:self.i].strip()

    def quoted(self) -> str:
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                return "".join(out)
            if c == "\\" and self.i + 1 < len(self.s):
                nxt = self.s[self.i + 1]
                if nxt in _ESCAPES:
                    out.append(_ESCAPES[nxt])
                    self.i += 2
                    continue
                if nxt in "xu" and (code := self._hex(nxt)) is not None:
                    out.append(code)
                    continue
                out.append("\\")
                self.i += 1
                continue
            out.append(c)
            self.i += 1
        raise self.error("unterminated quoted string")

    def _hex(self, kind: str) -> str | None:
        width = 2 if kind == "x" else 4
        digits = self.s[self.i + 2:self.i + 2 + width]
        if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
            return None
        self.i += 2 + width
        return chr(int(digits, 16))
