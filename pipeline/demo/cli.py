"""`pipeline demo`: parse the options and run the demo."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.demo import DemoOptions, DemoRun


@click.command("demo")
@click.option("--duration", default=60.0, show_default=True, type=click.FloatRange(min=5),
              help="seconds of live traffic before the demo drains, stops and prints its summary")
@click.option("--forever", is_flag=True,
              help="run until Ctrl-C or SIGTERM, then end like a timed run (ingest stops, the worker drains, the "
                   "summary checks decide the exit code); a second Ctrl-C aborts at once (exit 130)")
@click.option("--output", "output_root", default="demo-output", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="runs go to <output>/<timestamp>/")
@click.option("--users", default=200, show_default=True, type=click.IntRange(min=5),
              help="mailboxes in the simulated company")
@click.option("--speed", default=60.0, show_default=True, type=click.FloatRange(min=1),
              help="simulated seconds per real second")
@click.option("--seed", default=1, show_default=True, type=int, help="seed of the simulated company and traffic")
@click.option("--history-hours", default=24.0, show_default=True, type=click.FloatRange(min=0),
              help="simulated traffic before the start (fetched by the first polls)")
@click.option("--sim-start", default=None,
              help="simulated start time, ISO 8601 (default: the latest 09:30 Beijing time, a working morning)")
@click.option("--partitions", default=3, show_default=True, type=click.IntRange(min=1))
@click.option("--no-faults", is_flag=True,
              help="skip the fault drill (forged callbacks, API errors, token expiry, a malformed record)")
def demo(duration: float, forever: bool, output_root: Path, users: int, speed: float, seed: int,
         history_hours: float, sim_start: str | None, partitions: int, no_faults: bool) -> None:
    """Run Kafka + simulator + ingest + worker (SQLite audit, default rules, alerts to the simulated WeCom),
    show live progress, then print a summary. Exit 0 only when every stream had records, alerts reached the
    simulated WeCom and the audit store holds every event once; Ctrl-C stops everything and exits 130 (with
    --forever the first Ctrl-C ends the run normally, the second aborts)."""
    options = DemoOptions(duration=None if forever else duration, output_root=output_root, users=users,
                          speed=speed, seed=seed, history_hours=history_hours, sim_start=sim_start,
                          partitions=partitions, faults=not no_faults)
    sys.exit(DemoRun(options).run())
