"""Result rows, percentiles and the text / markdown / JSON renderings of one benchmark run (pure helpers)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

COLUMNS = ("name", "value", "unit", "baseline", "ratio", "notes")


@dataclass(slots=True)
class Row:
    """One measurement. `baseline` is the peer's value in the same unit (kcat, Alertmanager, a limit);
    `ratio` is value / baseline when both exist."""

    name: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    notes: str = ""
    ratio: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.ratio = ratio(self.value, self.baseline)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def ratio(value: float | None, baseline: float | None) -> float | None:
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def percentile(samples: Iterable[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100) of `samples`; None when there are none."""
    ordered = sorted(samples)
    if not ordered:
        return None
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} is outside 0..100")
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summarize(samples: Sequence[float]) -> dict[str, float | int | None]:
    """count, p50, p99 and max of a latency sample."""
    return {"count": len(samples), "p50": percentile(samples, 50), "p99": percentile(samples, 99),
            "max": max(samples) if samples else None}


def fmt_number(value: float | None) -> str:
    """Thousands separators for big values, three significant digits for small ones, '-' for none; a count
    (an int) as it is."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # NaN
        return "nan"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1 or magnitude == 0:
        return f"{value:.2f}"
    return f"{value:.3g}"


def fmt_ratio(value: float | None) -> str:
    """Two decimals, or two significant digits below 0.1 so small ratios do not read as zero."""
    if value is None:
        return "-"
    return f"{value:.2f}x" if abs(value) >= 0.1 else f"{value:.2g}x"


def _cells(row: Row) -> list[str]:
    baseline = fmt_number(row.baseline)
    if row.baseline is not None and row.baseline_label:
        baseline = f"{baseline} ({row.baseline_label})"
    return [row.name, fmt_number(row.value), row.unit, baseline, fmt_ratio(row.ratio), row.notes]


def text_table(rows: Sequence[Row]) -> str:
    """Fixed-width table; numbers right-aligned, the notes column left as is."""
    cells = [list(COLUMNS)] + [_cells(r) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS) - 1)]
    right = {1, 3, 4}
    lines = []
    for n, line in enumerate(cells):
        parts = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(line, widths, strict=False))]
        lines.append("  ".join([*parts, line[-1]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(COLUMNS[-1]))
    return "\n".join(lines)


def markdown_table(rows: Sequence[Row]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    align = ["---", "--:", "---", "--:", "--:", "---"]
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines)
