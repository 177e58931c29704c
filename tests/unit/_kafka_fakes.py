"""Stand-ins for confluent-kafka in unit tests: a consumed record, and a consumer that records what a worker
service asks of it in a rebalance (assign, pause, resume)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class FakeMessage:
    """A consumed record without an error."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes | None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes | None:
        return self._value

    def error(self) -> None:
        return None


class RebalanceConsumer:
    """`calls`: ("assign" | "pause" | "resume", [partition, ...]) in call order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[int]]] = []

    def incremental_assign(self, tps: list[Any]) -> None:
        self.calls.append(("assign", [tp.partition for tp in tps]))

    def pause(self, tps: list[Any]) -> None:
        self.calls.append(("pause", [tp.partition for tp in tps]))

    def resume(self, tps: list[Any]) -> None:
        self.calls.append(("resume", [tp.partition for tp in tps]))
