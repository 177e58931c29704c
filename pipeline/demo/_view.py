"""The live progress view: a compact table redrawn in place on a terminal, a plain line every few seconds
otherwise (CI logs)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from typing import TextIO

from pipeline import streams

# the raw streams a demo run shows and requires: every polled or pushed Exmail kind of the stream catalog
STREAMS = tuple(s.kind for s in streams.raw_kinds() if s.poller is not None)


@dataclass
class Progress:
    """One refresh worth of numbers, from the children's /metrics, the audit DB and the simulator."""

    elapsed: float = 0.0
    duration: float | None = None
    phase: str = "running"
    sim_clock: str = ""
    produced: dict[str, float] = field(default_factory=dict)      # raw stream -> records
    normalized: float = 0.0
    audit_rows: int = 0
    alerts: dict[str, float] = field(default_factory=dict)        # rule -> alerts raised
    notifications: dict[str, float] = field(default_factory=dict)  # receiver -> notifications
    deliveries: dict[str, dict[str, float]] = field(default_factory=dict)  # receiver -> outcome -> n
    destinations: dict[str, int] = field(default_factory=dict)    # "wecom robot" -> accepted messages
    dlq: float = 0.0
    backlog: dict[str, tuple[float, float]] = field(default_factory=dict)  # receiver -> (waiting, oldest s)
    api_errors: dict[str, float] = field(default_factory=dict)    # errcode -> n
    callback_rejections: dict[str, float] = field(default_factory=dict)
    stalled: list[str] = field(default_factory=list)               # "stage topic[p]: N behind, no progress X s"
    notes: list[str] = field(default_factory=list)


def _join(items: dict[str, float] | dict[str, int], empty: str = "-") -> str:
    parts = [f"{k} {int(v)}" for k, v in sorted(items.items()) if v]
    return " · ".join(parts) if parts else empty


def _backlog(p: Progress) -> str:
    parts = [f"{r} {int(n)} (oldest {age:.0f} s)" for r, (n, age) in sorted(p.backlog.items()) if n]
    return " · ".join(parts) if parts else "-"


def render(p: Progress) -> list[str]:
    clock = f"{p.elapsed:4.0f} s" + (f" of {p.duration:.0f} s" if p.duration is not None else " (until Ctrl-C)")
    lines = [f"pipeline demo — {p.phase}, {clock}   simulated clock {p.sim_clock}   Ctrl-C stops everything",
             f"  {'stream':<15}{'produced':>9}    {'worker':<14}"]
    right = [
        ("normalized", f"{int(p.normalized)}"),
        ("audit rows", f"{p.audit_rows}"),
        ("DLQ", f"{int(p.dlq)}"),
        ("API errors", _join(p.api_errors)),
        ("callback rej.", _join(p.callback_rejections)),
    ]
    for i, stream in enumerate(STREAMS):
        r = f"{right[i][0]:<14}{right[i][1]}" if i < len(right) else ""
        lines.append(f"  {stream:<15}{int(p.produced.get(stream, 0)):>9}    {r}")
    deliveries = {f"{r} {o}": n for r, by in p.deliveries.items() for o, n in by.items()}
    lines += [
        f"  alerts         {_join(p.alerts)}",
        f"  notifications  {_join(p.notifications)}",
        f"  deliveries     {_join(deliveries)}",
        f"  received       {_join(p.destinations)}",
        f"  backlog        {_backlog(p)}",
    ]
    lines += [f"  STALLED        {stall}" for stall in p.stalled]
    lines += [f"  · {note}" for note in p.notes[-3:]]
    return lines


def one_line(p: Progress) -> str:
    produced = sum(p.produced.get(s, 0) for s in STREAMS)
    delivered = sum(by.get("delivered", 0) for by in p.deliveries.values())
    return (f"[{p.elapsed:5.0f} s] {p.phase}: produced {int(produced)} ({_join(p.produced)}) | normalized "
            f"{int(p.normalized)} | audit {p.audit_rows} | alerts {int(sum(p.alerts.values()))} | delivered "
            f"{int(delivered)} ({_join(p.destinations)}) | backlog {_backlog(p)} | DLQ {int(p.dlq)}"
            + "".join(f" | STALLED {stall}" for stall in p.stalled))


class LiveView:
    """Redraws in place on a TTY (lines cut to the terminal width, so the cursor arithmetic holds); otherwise
    prints `one_line` every `plain_every` seconds."""

    def __init__(self, out: TextIO, tty: bool, plain_every: float = 5.0) -> None:
        self.out = out
        self.tty = tty
        self.plain_every = plain_every
        self._drawn = 0
        self._last_plain = float("-inf")

    def show(self, p: Progress, force: bool = False) -> None:
        if self.tty:
            width = max(20, shutil.get_terminal_size((120, 40)).columns - 1)
            lines = [line if len(line) <= width else line[:width - 1] + "…" for line in render(p)]
            prefix = f"\x1b[{self._drawn}F\x1b[J" if self._drawn else ""
            self.out.write(prefix + "\n".join(lines) + "\n")
            self._drawn = len(lines)
        else:
            now = time.monotonic()
            if not force and now - self._last_plain < self.plain_every:
                return
            self._last_plain = now
            self.out.write(one_line(p) + "\n")
        self.out.flush()

    def release(self) -> None:
        """Stop redrawing: later output goes below the last frame."""
        self._drawn = 0

    def say(self, text: str) -> None:
        self.release()
        self.out.write(text + "\n")
        self.out.flush()
