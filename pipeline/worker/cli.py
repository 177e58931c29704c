"""`pipeline worker`: load and check the config, apply the command-line overrides, run the worker."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import click

from pipeline.config import ConfigError, PipelineConfig, load_config
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.worker.config import AgentName
from pipeline.worker.main import run_worker


@click.command("worker")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="the pipeline YAML config (default: embedded defaults)")
@click.option("--agent", "agents", multiple=True,
              type=click.Choice(list(get_args(AgentName))),
              help="run only these agents (repeatable; default: worker.agents from config)")
@click.option("--bootstrap", default=None, help="override kafka.bootstrap")
@click.option("--prefix", default=None, help="override kafka.topic_prefix")
@click.option("--http-port", type=int, default=None, help="override worker.http_port (0 disables)")
@click.option("--sqlite", "sqlite_path", default=None, help="override: audit store is this SQLite file")
@click.option("--app-id", default=None, help="override worker.app_id (the consumer group)")
@click.option("--instance-id", default=None,
              help="override worker.instance_id (static membership: a restart takes its partitions back at once)")
@click.option("--loglevel", default="INFO", show_default=True,
              help="our own lines (rebalances, stalls, sinks) at INFO; libraries stay at WARNING")
def worker(config_path: str | None, agents: tuple[str, ...], bootstrap: str | None, prefix: str | None,
           http_port: int | None, sqlite_path: str | None, app_id: str | None, instance_id: str | None,
           loglevel: str) -> None:
    """Run the faust worker: normalize, audit and SIEM sinks, alerting, delivery, actions."""
    try:
        cfg = load_config(config_path) if config_path else PipelineConfig()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if bootstrap:
        cfg.kafka.bootstrap = bootstrap
    if prefix is not None:
        cfg.kafka.topic_prefix = prefix
    if http_port is not None:
        cfg.worker.http_port = http_port
    if sqlite_path:
        cfg.worker.audit = AuditStoreConfig(kind="sqlite", path=Path(sqlite_path), batch=cfg.worker.audit.batch)
    if app_id:
        cfg.worker.app_id = app_id
    if instance_id:
        cfg.worker.instance_id = instance_id
    run_worker(cfg, list(agents) or None, loglevel=loglevel)  # type: ignore[arg-type]
