"""Plain JSON POSTs from httpx, to measure a receiver's capacity before it is used as the sink of a benchmark.

Run as a process (several in parallel to go beyond one client's speed):
    python ops/bench/_httpload.py URL --requests 4000 --concurrency 32
Prints one JSON line: {"requests", "ok", "start", "end"} (unix times of the first send and the last answer).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import httpx
import orjson


def payload(size: int) -> bytes:
    """A webhook-like JSON body of about `size` bytes."""
    filler = "x" * max(0, size - 120)
    return orjson.dumps({"version": "load/1", "receiver": "load",
                         "alerts": [{"labels": {"alertname": "Load"}}], "text": filler})


async def load(url: str, requests: int, concurrency: int, size: int) -> dict[str, float | int]:
    body = payload(size)
    ok = 0
    remaining = iter(range(requests))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30.0, trust_env=False) as client:

        async def worker() -> None:
            nonlocal ok
            for _ in remaining:
                response = await client.post(url, content=body, headers={"Content-Type": "application/json"})
                ok += response.status_code == 200

        start = time.time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        end = time.time()
    return {"requests": requests, "ok": ok, "start": start, "end": end}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--size", type=int, default=1200, help="body bytes")
    args = parser.parse_args()
    result = asyncio.run(load(args.url, args.requests, args.concurrency, args.size))
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
