"""Summarise a py-spy raw profile (collapsed stacks, as `run.py --profile` writes): share of samples per thread,
and the functions with the most samples on top of the stack (self) and anywhere in it (inclusive).

    .venv/bin/python ops/bench/profile_top.py ops/bench/profiles/normalize-audit-sqlite.txt [--top 25]
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_THREAD = re.compile(r"^thread \(\d+\): ?")


def summarise(path: Path, top: int) -> str:
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        threads[_THREAD.sub("", frames[0]).strip() or frames[0]] += n
        own[frames[-1]] += n
        for frame in set(frames[1:]):
            inclusive[frame.split(" (")[0]] += n
    out = [f"{path.name}: {total:,} samples", "", "threads:"]
    out += [f"  {c / total:6.1%}  {name}" for name, c in threads.most_common(8)]
    out += ["", "self (top of stack):"]
    out += [f"  {c / total:6.1%}  {name}" for name, c in own.most_common(top)]
    out += ["", "inclusive:"]
    skip = ("Thread.", "_bootstrap", "BaseEventLoop.", "Handle._run", "_run_code", "<module>", "Command.",
            "Context.invoke", "Group.invoke", "Runner.run", "run_without_faust", "_run_module_as_main")
    ranked = [(n, c) for n, c in inclusive.most_common() if not n.startswith(skip) and n not in ("run", "_worker")]
    out += [f"  {c / total:6.1%}  {name}" for name, c in ranked[:top]]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(summarise(args.profile, args.top))


if __name__ == "__main__":
    main()
