"""CPU per POST of the delivery sinks' HTTP client: aiohttp's ClientSession (what `PooledClient` used before, and
still uses behind a proxy) against `_h1` (asyncio.Protocol + httptools, the direct path now), both through
`exchange()` as a sink calls it.

    python ops/bench/http_client.py [--requests 5000] [--concurrency 10] [--rounds 3]

The receiver (ops/bench/_receiver.py) runs as its own process, so the CPU counted here (this process's CPU time /
requests, uvloop, `concurrency` tasks in flight) is the client's alone. Rounds alternate between the clients;
the median round of each is reported with the ratio. On a shared machine the absolute numbers move with the load;
the ratio measured in one run is what counts. Prints a table and one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
import uvloop
from _alerts import start_receiver
from _httpload import payload
from _procs import ROOT, Procs

from pipeline.sinks.delivery.http import (
    HttpReply,
    HttpRequest,
    HttpSettings,
    PooledClient,
    _ProxiedClient,
    exchange,
)

CLIENTS = ("aiohttp", "h1")


def new_client(kind: str, settings: HttpSettings) -> PooledClient:
    client = PooledClient(settings)  # the direct path: _h1
    if kind == "aiohttp":
        # the ClientSession PooledClient used for every request before _h1 (and still uses with a proxy)
        proxied = _ProxiedClient(settings)
        client.request = proxied.request
        client._proxied = proxied
    return client


def webhook_request(url: str, body: bytes, i: int) -> HttpRequest:
    """What the webhook sink sends: JSON with a timestamp, an HMAC signature and an idempotency key."""
    return HttpRequest("POST", url, body, {
        "Content-Type": "application/json; charset=utf-8", "X-Exmail-Idempotency-Key": f"bench-{i:08d}",
        "X-Exmail-Timestamp": str(int(time.time())), "X-Exmail-Signature": "sha256=" + "ab" * 32},
        label="webhook")


async def one_round(kind: str, url: str, requests: int, concurrency: int) -> tuple[float, float, int]:
    """(CPU seconds of this process, wall seconds, replies that were 2xx) for `requests` POSTs."""
    body = payload(1200)
    client = new_client(kind, HttpSettings(max_connections=concurrency))
    ok = 0
    try:
        for i in range(concurrency * 20):  # warm-up: connections open, caches filled
            await exchange(client, webhook_request(url, body, i))
        remaining = iter(range(requests))

        async def worker() -> None:
            nonlocal ok
            for i in remaining:
                reply = await exchange(client, webhook_request(url, body, i))
                ok += isinstance(reply, HttpReply)

        start, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.process_time() - start, time.perf_counter() - wall, ok
    finally:
        await client.aclose()


async def measure(url: str, requests: int, concurrency: int,
                  rounds: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """CPU us per request and requests/s of each round, per client."""
    per_request: dict[str, list[float]] = {kind: [] for kind in CLIENTS}
    rates: dict[str, list[float]] = {kind: [] for kind in CLIENTS}
    for _ in range(rounds):
        for kind in CLIENTS:
            cpu, wall, ok = await one_round(kind, url, requests, concurrency)
            if ok != requests:
                raise SystemExit(f"{kind}: {requests - ok} of {requests} requests failed")
            per_request[kind].append(cpu / requests * 1e6)
            rates[kind].append(requests / wall)
    return per_request, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-http-") as logs, Procs(Path(logs), ROOT) as procs:
        receiver = start_receiver(procs)
        url = receiver.url("hook/bench?key=not-a-secret")
        per_request, rates = uvloop.run(measure(url, args.requests, args.concurrency, args.rounds))
    medians = {kind: statistics.median(values) for kind, values in per_request.items()}
    rate_medians = {kind: statistics.median(values) for kind, values in rates.items()}
    sys.stdout.write(f"CPU us per POST ({args.requests} POSTs of ~1.2 KB, {args.concurrency} in flight, uvloop, "
                     f"median of {args.rounds}):\n")
    for kind in CLIENTS:
        rounds = ", ".join(f"{v:.0f}" for v in per_request[kind])
        sys.stdout.write(f"  {kind:8} {medians[kind]:7.1f}   (rounds: {rounds}; {rate_medians[kind]:,.0f} POST/s, "
                         f"bound by the receiver process sharing the cores)\n")
    sys.stdout.write(f"  h1 / aiohttp = {medians['h1'] / medians['aiohttp']:.2f}\n")
    result = {"cpu_us_per_post": medians, "posts_per_s": rate_medians, "rounds": per_request}
    sys.stdout.write(orjson.dumps(result).decode() + "\n")


if __name__ == "__main__":
    main()
