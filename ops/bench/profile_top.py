"""Summarise a py-spy raw profile (collapsed stacks, as `run.py --profile` writes): share of samples per thread,
and the functions with the most samples on top of the stack (self) and anywhere in it (inclusive).

    .venv/bin/python ops/bench/profile_top.py ops/bench/profiles/normalize-audit-sqlite.txt [--top 25]
    .venv/bin/python ops/bench/profile_top.py --delivery <(zcat ops/bench/profiles/delivery-burst5000-1s.txt.gz)

--delivery: the delivery process's main thread by the stages of a send (the README's table): each sample goes
to the first stage whose frames it finds, walking from the top of the stack down.
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


# (stage, substrings of a frame that place a sample in it), in the order they are tried for each frame
DELIVERY_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("HTTP client, socket write and response", ("_h1.py", "delivery/http.py", "WebhookService.send")),
    ("request build: headers, HMAC signature", ("request_builder.py", "signing.py", "hmac.py")),
    ("webhook payload: texts rendered, JSON", ("webhook/encoder.py", "templates.py", "WebhookSink.encode",
                                               "splitting.py")),
    ("outcome: object, times, metrics, exmail.deliveries record", (
        "DeliverySink._finish", "outcome.py", "seeded_fingerprint", "utc_iso", "prometheus_client")),
    ("intake: envelope and notification decode, backlog", (
        "DeliveryService._take", "envelope.py", "notification.py", "Backlog.put")),
    ("send loop: _process, _send_parts, token bucket, delivered mark", (
        "DeliveryService._process", "_send_parts", "ratelimit.py", "DeliverySink.deliver", "_run_receiver",
        "Backlog.take", "Backlog.done", "DeliveryService._mark")),
    ("ship and commit", ("DeliveryService._ship", "DeliveryService._send", "producer.py", "_settle", "_commit")),
)


def delivery_stages(path: Path) -> str:
    """Shares of the main thread's samples (the stack holds run_without_faust) per stage of a send."""
    shares: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not count.isdigit() or not any("run_without_faust" in f for f in frames):
            continue
        total += int(count)
        shares[_stage(frames)] += int(count)
    out = [f"{path.name}: {total:,} main-thread samples"]
    out += [f"  {c / max(total, 1):6.1%}  {name}" for name, c in shares.most_common()]
    return "\n".join(out)


def _stage(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, keys in DELIVERY_STAGES:
            if any(k in frame for k in keys):
                return name
    return "uvloop's own work and the rest"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--delivery", action="store_true", help="shares per stage of a delivery send")
    args = parser.parse_args()
    print(delivery_stages(args.profile) if args.delivery else summarise(args.profile, args.top))


if __name__ == "__main__":
    main()
