"""The `pipeline` command. Subcommands only parse arguments and call into packages."""

from __future__ import annotations

import sys

import click

from pipeline import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pipeline")
def main() -> None:
    """Exmail event pipeline: Tencent Enterprise Email events into Kafka, out to alerts and audit storage."""


@main.command("topics")
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: EXMAIL_KAFKA_BOOTSTRAP or .state)")
@click.option("--prefix", default="", help="topic name prefix")
@click.option("--partitions", default=6, show_default=True, type=int)
def topics_cmd(bootstrap: str | None, prefix: str, partitions: int) -> None:
    """Create the pipeline's topics (missing ones only)."""
    from pipeline.kafka import bootstrap_from_env, ensure_topics

    created = ensure_topics(bootstrap or bootstrap_from_env(), prefix=prefix, partitions=partitions)
    click.echo(f"created {len(created)} topics" + (": " + ", ".join(sorted(created)) if created else ""))


@main.command("smoke")
@click.option("--bootstrap", default=None, help="Kafka bootstrap (default: EXMAIL_KAFKA_BOOTSTRAP or .state)")
@click.option("--records", default=1000, show_default=True, type=int)
def smoke_cmd(bootstrap: str | None, records: int) -> None:
    """Round-trip records through the local broker with the idempotent producer and a consumer group."""
    from pipeline.smoke import run_smoke

    sys.exit(run_smoke(bootstrap, records))


if __name__ == "__main__":
    main()
