"""The resumable stream position carried in every SSE `id:`.

Format: base64url (no padding) of compact JSON `{"<kind>:<partition>": <next offset>, ...}`, keys sorted, one
entry for every partition of every streamed topic, e.g. `{"notification:0":12,"notification:1":7}`. The next
offset is the offset after the last record the client has been *sent or skipped by its filters*, so resuming
from it repeats nothing and misses nothing. Kinds (notification, alert, event), not topic names, keep the id
short and independent of the deployment's topic prefix.
"""

from __future__ import annotations

import base64
import binascii
import re

import orjson

MAX_ENCODED = 8192
_KEY = re.compile(r"^([a-z]+):([0-9]{1,6})$")


class PositionError(ValueError):
    """A Last-Event-ID that this server did not write (or that was cut or altered)."""


class Position:
    """Next offset per (kind, partition); mutated as records are processed."""

    __slots__ = ("offsets",)

    def __init__(self, offsets: dict[tuple[str, int], int] | None = None) -> None:
        self.offsets: dict[tuple[str, int], int] = dict(offsets or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Position) and other.offsets == self.offsets

    def __repr__(self) -> str:
        return f"Position({self.offsets!r})"

    def copy(self) -> Position:
        return Position(self.offsets)

    def advance(self, kind: str, partition: int, offset: int) -> None:
        """Record that the record at `offset` has been handled."""
        self.offsets[(kind, partition)] = offset + 1

    def kinds(self) -> set[str]:
        return {kind for kind, _ in self.offsets}

    def encode(self) -> str:
        body = {f"{k}:{p}": o for (k, p), o in sorted(self.offsets.items())}
        return base64.urlsafe_b64encode(orjson.dumps(body)).rstrip(b"=").decode("ascii")

    @classmethod
    def decode(cls, text: str) -> Position:
        if not text or len(text) > MAX_ENCODED:
            raise PositionError("Last-Event-ID is empty or too long")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            body = orjson.loads(raw)
        except (binascii.Error, ValueError) as exc:
            raise PositionError("Last-Event-ID is not a position this server wrote") from exc
        if not isinstance(body, dict):
            raise PositionError("Last-Event-ID is not a position this server wrote")
        offsets: dict[tuple[str, int], int] = {}
        for key, offset in body.items():
            match = _KEY.match(key)
            if match is None or type(offset) is not int or offset < 0:
                raise PositionError("Last-Event-ID is not a position this server wrote")
            offsets[(match.group(1), int(match.group(2)))] = offset
        return cls(offsets)
