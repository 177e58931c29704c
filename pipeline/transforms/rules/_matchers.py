"""Field matchers compiled once into closures; a rule evaluates them against each event.

Values compare canonically (2 == "2", True == "true") so YAML and JSON typing differences do not matter.
Missing or empty fields: positive operators (eq, in, regex, domain_in) fail, negative ones (ne, not_in,
not_regex) hold, domain_not_in fails (there is no address whose domain could be foreign). A listed domain
covers its subdomains; an address without a domain (a bare local part) matches neither domain operator.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pipeline.transforms.rules._fields import Path, compile_path, field_values
from pipeline.transforms.rules.config import CORP_DOMAINS, FieldMatcherConfig

Predicate = Callable[[dict[str, Any], frozenset[str]], bool]


def canon(value: Any, ignore_case: bool = False) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = value if isinstance(value, str) else str(value)
    return text.lower() if ignore_case else text


def address_domain(value: Any) -> str:
    """The lower-cased domain of an address, also from display forms ("Name" <a@b.com>); "" when none."""
    if not isinstance(value, str):
        return ""
    text = value.strip()
    lt = text.rfind("<")
    if lt >= 0:
        gt = text.find(">", lt)
        text = text[lt + 1:gt if gt > lt else None]
    at = text.rfind("@")
    if at < 0:
        return ""
    return text[at + 1:].strip().rstrip(".").lower()


def compile_matcher(cfg: FieldMatcherConfig) -> tuple[Path, Predicate]:
    parts = compile_path(cfg.field)
    op = cfg.operator
    ic = cfg.ignore_case
    if op in ("eq", "ne", "in_", "not_in"):
        raw = getattr(cfg, op)
        wanted = frozenset(canon(v, ic) for v in (raw if isinstance(raw, list) else [raw]))

        def any_in(doc: dict[str, Any], _d: frozenset[str]) -> bool:
            return any(canon(v, ic) in wanted for v in field_values(doc, parts))

        def any_not_in(doc: dict[str, Any], _d: frozenset[str]) -> bool:
            values = field_values(doc, parts)
            return not values or any(canon(v, ic) not in wanted for v in values)

        return parts, any_in if op in ("eq", "in_") else any_not_in
    if op in ("regex", "not_regex"):
        rx = re.compile(getattr(cfg, op), re.IGNORECASE if ic else 0)

        def any_match(doc: dict[str, Any], _d: frozenset[str]) -> bool:
            return any(rx.search(canon(v)) for v in field_values(doc, parts))

        def any_mismatch(doc: dict[str, Any], _d: frozenset[str]) -> bool:
            values = field_values(doc, parts)
            return not values or any(not rx.search(canon(v)) for v in values)

        return parts, any_match if op == "regex" else any_mismatch
    if op == "exists":
        want = bool(cfg.exists)

        def exists(doc: dict[str, Any], _d: frozenset[str]) -> bool:
            present = any(v != "" and v != {} for v in field_values(doc, parts))
            return present is want

        return parts, exists
    domains_raw: list[str] = getattr(cfg, op)
    static = frozenset(d.strip().lower().rstrip(".") for d in domains_raw if d != CORP_DOMAINS)
    dynamic = CORP_DOMAINS in domains_raw
    inside = op == "domain_in"

    def domain(doc: dict[str, Any], corp_domains: frozenset[str]) -> bool:
        for v in field_values(doc, parts):
            d = address_domain(v)
            if d and _covered(d, static, corp_domains if dynamic else _EMPTY) is inside:
                return True
        return False

    return parts, domain


_EMPTY: frozenset[str] = frozenset()


def _covered(domain: str, static: frozenset[str], dynamic: frozenset[str]) -> bool:
    """True when the domain or one of its parent domains is listed (a domain covers its subdomains)."""
    d = domain
    while True:
        if d in static or d in dynamic:
            return True
        dot = d.find(".")
        if dot < 0:
            return False
        d = d[dot + 1:]
