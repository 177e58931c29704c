"""Stand-ins for confluent-kafka in unit tests: a consumed record, and a consumer that records what a worker
service asks of it in a rebalance (assign, pause, resume)."""

from __future__ import annotations

from typing import Any


class FakeMessage:
    """The part of confluent_kafka.Message the code under test reads (a record without an error)."""

    def __init__(self, topic: str, value: bytes | None, partition: int = 0, offset: int = 0,
                 key: bytes | None = None) -> None:
        self._topic, self._value, self._partition, self._offset, self._key = topic, value, partition, offset, key

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes | None:
        return self._value

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

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
