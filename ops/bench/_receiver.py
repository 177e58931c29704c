"""The benchmark's notification receiver: an aiohttp server (listen backlog 4096) that answers every POST
200 at once and records its arrival time and the bench ids ("bnch<6 digits>x") found in the body.

Run as its own process so its CPU is not the driver's:  python ops/bench/_receiver.py  (prints "PORT <n>").
  POST /_reset   forget everything          GET /_count  {"requests", "ids"}
  GET  /_dump    {"first": {id: first arrival unix time}, "requests": n}
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
import time

import orjson
from aiohttp import web

BENCH_ID = re.compile(rb"bnch(\d{6})x")
REPLY = orjson.dumps({"errcode": 0, "errmsg": "ok", "ok": True})


class Arrivals:
    def __init__(self) -> None:
        self.requests = 0
        self.first: dict[str, float] = {}

    def record(self, body: bytes, at: float) -> None:
        self.requests += 1
        for match in set(BENCH_ID.findall(body)):
            self.first.setdefault(match.decode(), at)


def build_app(arrivals: Arrivals) -> web.Application:
    async def receive(request: web.Request) -> web.Response:
        body = await request.read()
        arrivals.record(body, time.time())
        return web.Response(body=REPLY, content_type="application/json")

    async def reset(request: web.Request) -> web.Response:
        arrivals.requests = 0
        arrivals.first = {}
        return web.json_response({"reset": True}, dumps=lambda o: orjson.dumps(o).decode())

    async def count(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"requests": arrivals.requests, "ids": len(arrivals.first)}),
                            content_type="application/json")

    async def dump(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"requests": arrivals.requests, "first": arrivals.first}),
                            content_type="application/json")

    app = web.Application(client_max_size=8 * 1024 * 1024)
    app.router.add_post("/_reset", reset)
    app.router.add_get("/_count", count)
    app.router.add_get("/_dump", dump)
    app.router.add_post("/{tail:.*}", receive)
    return app


async def serve(host: str, port: int) -> None:
    runner = web.AppRunner(build_app(Arrivals()), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=4096)
    await site.start()
    bound = runner.addresses[0][1]
    sys.stdout.write(f"PORT {bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
