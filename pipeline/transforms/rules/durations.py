"""Prometheus-style durations ("1h30m", "10s", "500ms", "7d", "0"), as rules and routing configs write them."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

_UNITS = {"y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_DURATION_RE = re.compile(
    r"^(?:(?P<y>\d+)y)?(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?$"
)


def parse_duration(value: Any) -> float:
    """Seconds from a duration string; plain numbers are taken as seconds. Raises ValueError naming the input."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value!r}")
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 4h, 7d)")
    text = value.strip()
    if text == "0":
        return 0.0
    m = _DURATION_RE.match(text)
    if not text or m is None or not any(m.groupdict().values()):
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 5m, 1h30m, 7d)")
    return sum(int(n) * _UNITS[unit] for unit, n in m.groupdict().items() if n)


def format_duration(seconds: float) -> str:
    """The shortest Prometheus-style spelling, e.g. 600 -> "10m", 5400 -> "1h30m"."""
    if seconds <= 0:
        return "0s"
    ms = round(seconds * 1000)
    parts = []
    for unit in ("w", "d", "h", "m", "s"):
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            parts.append(f"{ms // size}{unit}")
            ms %= size
    if ms:
        parts.append(f"{ms}ms")
    return "".join(parts)


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]
