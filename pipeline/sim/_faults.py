"""Run-time fault switches for the /cgi-bin/ surface: errcode bursts, HTTP 5xx, delays, dropped connections
and early token expiry, per endpoint pattern, with probabilities drawn from one seeded RNG."""

from __future__ import annotations

import fnmatch
import itertools
import random
from dataclasses import dataclass, field
from typing import Any

from pipeline.sim.config import FaultRule

TERMINAL = ("drop", "http_status", "errcode")


@dataclass
class FaultDecision:
    delay: float = 0.0
    expire_token: bool = False
    terminal: FaultRule | None = None
    fired: list[str] = field(default_factory=list)


class FaultEngine:
    """Holds the rules; `decide(endpoint)` draws for each matching rule in order (deterministic per seed
    and call sequence) and consumes `count` budgets."""

    def __init__(self, seed: int, rules: list[FaultRule] | None = None) -> None:
        self._rng = random.Random(f"faults:{seed}")
        self._ids = itertools.count(1)
        self.rules: list[FaultRule] = []
        self.fired: dict[str, int] = {}
        for rule in rules or []:
            self.add(rule)

    def add(self, rule: FaultRule) -> FaultRule:
        stored = rule.model_copy(update={"id": rule.id or f"f{next(self._ids)}"})
        self.rules = [r for r in self.rules if r.id != stored.id] + [stored]
        return stored

    def remove(self, rule_id: str) -> bool:
        before = len(self.rules)
        self.rules = [r for r in self.rules if r.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules = []

    def reseed(self, seed: int) -> None:
        self._rng = random.Random(f"faults:{seed}")

    def decide(self, endpoint: str) -> FaultDecision:
        decision = FaultDecision()
        kept: list[FaultRule] = []
        for rule in self.rules:
            if rule.count is not None and rule.count <= 0:
                continue
            kept.append(rule)
            if not fnmatch.fnmatchcase(endpoint, rule.endpoint):
                continue
            if rule.probability < 1.0 and self._rng.random() >= rule.probability:
                continue
            if rule.kind in TERMINAL and decision.terminal is not None:
                continue
            if rule.count is not None:
                rule.count -= 1
            assert rule.id is not None
            self.fired[rule.id] = self.fired.get(rule.id, 0) + 1
            decision.fired.append(rule.id)
            if rule.kind == "delay":
                decision.delay += rule.delay
            elif rule.kind == "expire_token":
                decision.expire_token = True
            else:
                decision.terminal = rule
        self.rules = [r for r in kept if r.count is None or r.count > 0]
        return decision

    def dump(self) -> dict[str, Any]:
        return {"rules": [r.model_dump() for r in self.rules], "fired": dict(self.fired)}
