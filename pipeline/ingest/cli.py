"""`pipeline ingest` and `pipeline backfill`: parse arguments, build the config, run the process."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import date, datetime
from typing import Any

import click
from pydantic import ValidationError

from pipeline.ingest._backfill import Backfill
from pipeline.ingest._process import run_ingest
from pipeline.secrets import SecretResolutionError
from pipeline.sources.config import LOG_STREAMS, IngestConfig, config_from_sim_credentials


def _load_config(config_path: str | None, sim_credentials: str | None, topic_prefix: str | None,
                 host: str | None, port: int | None, corps: tuple[str, ...] = ()) -> IngestConfig:
    if bool(config_path) == bool(sim_credentials):
        raise click.UsageError("give exactly one of --config FILE or --sim-credentials FILE")
    try:
        config = (IngestConfig.from_file(config_path) if config_path
                  else config_from_sim_credentials(str(sim_credentials)))
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise click.ClickException("invalid ingest config:\n" + "\n".join(lines)) from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot load config: {exc}") from None
    kafka = config.kafka
    if topic_prefix is not None:
        kafka = kafka.model_copy(update={"topic_prefix": topic_prefix})
    http = config.http.model_copy(update={k: v for k, v in {"host": host, "port": port}.items() if v is not None})
    selected = config.corps
    if corps:
        unknown = sorted(set(corps) - {c.name for c in config.corps} - {c.corp_id for c in config.corps})
        if unknown:
            raise click.UsageError(f"--corp {', '.join(unknown)}: not in the config")
        selected = [c for c in config.corps if c.name in corps or c.corp_id in corps]
    return config.model_copy(update={"kafka": kafka, "http": http, "corps": selected})


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpcore", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_config_options = [
    click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
                 help="ingest config (YAML/JSON; a top-level 'ingest:' section is used when present)"),
    click.option("--sim-credentials", type=click.Path(exists=True, dir_okay=False),
                 help="build the config from a simulator's credentials JSON (demo/tests)"),
    click.option("--topic-prefix", default=None, help="override kafka.topic_prefix"),
    click.option("--corp", "corps", multiple=True,
                 help="serve only these corps (name or corp_id; repeatable): shard corps over processes"),
    click.option("-v", "--verbose", is_flag=True),
]


def _with_config_options(fn: Any) -> Any:
    for option in reversed(_config_options):
        fn = option(fn)
    return fn


@click.command("ingest")
@_with_config_options
@click.option("--host", default=None, help="override http.host")
@click.option("--port", default=None, type=int, help="override http.port")
def ingest(config_path: str | None, sim_credentials: str | None, topic_prefix: str | None,
           corps: tuple[str, ...], verbose: bool, host: str | None, port: int | None) -> None:
    """Run the pollers, the callback endpoint and the HR intake until SIGTERM/SIGINT."""
    _logging(verbose)
    config = _load_config(config_path, sim_credentials, topic_prefix, host, port, corps)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_ingest(config, stop)

    try:
        asyncio.run(main())
    except SecretResolutionError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("backfill")
@click.option("--since", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="first date to fetch (YYYY-MM-DD, in the corp's timezone)")
@click.option("--stream", "streams", multiple=True,
              type=click.Choice(LOG_STREAMS),
              help="log streams to backfill (default: all)")
@_with_config_options
def backfill(since: datetime, streams: tuple[str, ...], config_path: str | None, sim_credentials: str | None,
             topic_prefix: str | None, corps: tuple[str, ...], verbose: bool) -> None:
    """Fetch the log records of --since..today that are not yet in Kafka (chunked to the API's span limit)."""
    _logging(verbose)
    config = _load_config(config_path, sim_credentials, topic_prefix, None, None, corps)
    first: date = since.date()

    async def main() -> dict[str, int]:
        job = Backfill(config, first, streams=list(streams) or None)
        try:
            steps = await job.plan()
            total = sum(s.days for s in steps)
            with click.progressbar(length=total, label=f"backfill since {first}", file=sys.stderr) as bar:
                return await job.run(bar.update)
        finally:
            await job.close()

    try:
        produced = asyncio.run(main())
    except SecretResolutionError as exc:
        raise click.ClickException(str(exc)) from None
    for name, count in sorted(produced.items()):
        click.echo(f"{name}: {count} records produced")
