"""Running the worker's tasks without faust, when no selected agent is a faust agent (normalize, audit, SIEM,
dispatch, delivery): no faust consumer, tables or changelogs to start, so start-up takes well under a second.
Same signals as the faust worker: SIGTERM/SIGINT finish the batches in hand, commit, leave the groups and exit
0; a unit that fails stops the process with exit code 1 so a supervisor restarts it. The loop is uvloop's
(libuv): the HTTP sends of delivery and every task switch cost less CPU there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import uvloop

from pipeline.worker.app import WorkerContext

log = logging.getLogger(__name__)
LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"


async def _serve(ctx: WorkerContext) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks: list[asyncio.Future[Any]] = [asyncio.ensure_future(fn()) for fn in ctx.tasks]
    stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
    pending: set[asyncio.Future[Any]] = {*tasks, stopper}
    failed = False
    while not stopper.done() and not failed:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if t is not stopper and not t.cancelled() and t.exception() is not None:
                log.error("worker task failed (%s); stopping the worker", t.exception())
                failed = True
        # a task that returns normally (e.g. the HTTP server, once started) is simply done
    await ctx.shutdown()
    for t in [*tasks, stopper]:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t
    return 1 if failed else 0


def run_without_faust(ctx: WorkerContext, loglevel: str = "INFO", quiet: tuple[str, ...] = ()) -> int:
    """Run until SIGTERM/SIGINT; the exit code (0 after a clean stop). `quiet`: loggers held at WARNING."""
    logging.basicConfig(level=loglevel.upper(), format=LOG_FORMAT)
    for name in quiet:
        logging.getLogger(name).setLevel(max(logging.getLogger().level, logging.WARNING))
    return int(uvloop.run(_serve(ctx)))
