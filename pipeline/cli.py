"""The `pipeline` command. Subcommands only parse arguments and call into packages."""

from __future__ import annotations

import faulthandler
import importlib
import re
import sys
from datetime import datetime

import click
import orjson

from pipeline import __version__
from pipeline.logfilter import limit_connection_logs
from pipeline.secrets import install_log_scrubbing

# Subcommands owned by their packages (each module keeps its own click group/command), imported only when
# named: `pipeline worker` does not pay for the simulator's, the demo's and the actions' imports at start.
_LAZY = {
    "worker": "pipeline.worker.cli:worker",
    "sim": "pipeline.sim.cli:sim_command",
    "ingest": "pipeline.ingest.cli:ingest",
    "backfill": "pipeline.ingest.cli:backfill",
    "audit": "pipeline.sinks.audit.cli:audit",
    "silence": "pipeline.transforms.routing.cli:silence",
    "demo": "pipeline.demo.cli:demo",
    "actions": "pipeline.actions.cli:actions",
    "api": "pipeline.apiconsole.cli:api",
    "directory": "pipeline.directory.cli:directory",
    "policy": "pipeline.policy.cli:policy",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY and cmd_name not in self.commands:
            module, attr = _LAZY[cmd_name].split(":")
            command = getattr(importlib.import_module(module), attr)
            assert isinstance(command, click.Command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipeline")
def main() -> None:
    """Exmail event pipeline: Tencent Enterprise Email events into Kafka, out to alerts and audit storage."""
    # A native crash (SIGSEGV/SIGABRT in librdkafka, a compression library, ...) then leaves every thread's
    # Python stack on stderr instead of a bare exit code -11. Every process (sim, ingest, worker, demo and the
    # processes the demo starts) runs through this group.
    if not faulthandler.is_enabled():
        faulthandler.enable(all_threads=True)
    # while the broker is away, one line per kind of connection error and a periodic summary, not 100/s
    limit_connection_logs()
    install_log_scrubbing()  # every process: no log line or traceback leaves with a live secret in it


@main.command("topics")
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: EXMAIL_KAFKA_BOOTSTRAP or .state)")
@click.option("--prefix", default="", help="topic name prefix")
@click.option("--partitions", default=6, show_default=True, type=int)
def topics_cmd(bootstrap: str | None, prefix: str, partitions: int) -> None:
    """Create the pipeline's topics (missing ones only)."""
    # imported on use (also below): `pipeline` starts every process, and a command pays only for its own imports
    from pipeline.kafka import bootstrap_from_env, ensure_topics

    created = ensure_topics(bootstrap or bootstrap_from_env(), prefix=prefix, partitions=partitions)
    click.echo(f"created {len(created)} topics" + (": " + ", ".join(sorted(created)) if created else ""))


@main.command("smoke")
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: EXMAIL_KAFKA_BOOTSTRAP or .state)")
@click.option("--records", default=1000, show_default=True, type=int)
def smoke_cmd(bootstrap: str | None, records: int) -> None:
    """Round-trip records through the local broker with the idempotent producer and a consumer group."""
    from pipeline.smoke import run_smoke  # imported on use: the command's own imports (confluent-kafka)

    sys.exit(run_smoke(bootstrap, records))


@main.command("replay")
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: EXMAIL_KAFKA_BOOTSTRAP or .state)")
@click.option("--prefix", default="", help="topic name prefix")
@click.option("--stage", default=None, help="only letters from this stage (e.g. normalize)")
@click.option("--origin-topic", default=None, help="only letters that came from this topic")
@click.option("--reason", default=None, help="only letters whose reason matches this regex")
@click.option("--id", "ids", multiple=True, help="only these DLQ record ids (repeatable)")
@click.option("--since", type=click.DateTime(), default=None, help="only letters written after this time")
@click.option("--dry-run", is_flag=True, help="list what would be re-injected, produce nothing")
def replay_cmd(bootstrap: str | None, prefix: str, stage: str | None, origin_topic: str | None,
               reason: str | None, ids: tuple[str, ...], since: object, dry_run: bool) -> None:
    """Re-inject dead letters into their origin topics after a fix."""
    # imported on use: the command's own imports (confluent-kafka), not paid by `pipeline sim` and the others
    from pipeline.kafka import KafkaSettings, bootstrap_from_env
    from pipeline.replay import ReplayFilter, describe, read_dead_letters, replay

    kafka = KafkaSettings(bootstrap=bootstrap or bootstrap_from_env(), topic_prefix=prefix)
    flt = ReplayFilter(stage=stage, origin_topic=origin_topic, reason=re.compile(reason) if reason else None,
                       ids=frozenset(ids), since=since if isinstance(since, datetime) else None)
    letters = read_dead_letters(kafka, flt)
    for dl in letters:
        click.echo(orjson.dumps(describe(dl)).decode())
    res = replay(kafka, letters, dry_run=dry_run)
    verb = "would re-inject" if dry_run else "re-injected"
    count = res.replayed if not dry_run else res.matched - res.skipped - res.masked
    click.echo(f"{res.matched} matched, {verb} {count}, {res.skipped} without payload or origin, "
               f"{res.masked} refused (masked credentials or links: resending would send dead links; "
               f"notifications replayed from their routing record get fresh ones); by topic: {res.by_topic}", err=True)


@main.command("check-config")
@click.argument("config_path", type=click.Path(exists=True, dir_okay=False))
@click.option("--resolve-secrets", is_flag=True, help="also check that every env:/file: secret reference resolves")
def check_config_cmd(config_path: str, resolve_secrets: bool) -> None:
    """Validate the YAML config: every problem with its path and a fix hint; exit 1 if any."""
    # imported on use: every section's model (~1 s of imports), not paid by `pipeline sim` and the others
    from pipeline.config import check_config

    issues = check_config(config_path, resolve_secrets=resolve_secrets)
    for warning in (i for i in issues if i.warning):
        click.echo(f"  - {warning}", err=True)
    problems = [i for i in issues if not i.warning]
    if not problems:
        click.echo(f"{config_path}: OK")
        return
    click.echo(f"{config_path}: {len(problems)} problem(s)", err=True)
    for issue in problems:
        click.echo(f"  - {issue}", err=True)
    sys.exit(1)


if __name__ == "__main__":
    main()
