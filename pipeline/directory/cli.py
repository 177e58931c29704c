"""`pipeline directory export|import`: arguments, plan printing and the progress bar; the work is in _run/apply."""

from __future__ import annotations

import asyncio
import getpass
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click
import orjson

from pipeline.actions import KafkaActionOutput
from pipeline.directory._formats import FORMATS, detect_format
from pipeline.directory._journal import JournalError
from pipeline.directory._live import groups_from_log
from pipeline.directory._run import ImportRefused, PreparedImport, export_directory, prepare_import, render
from pipeline.directory.apply import ApplyReport, Interrupted, apply_plan
from pipeline.directory.model import Rejected
from pipeline.kafka import EventProducer, TopicNames, ensure_topics
from pipeline.secrets import SecretResolutionError
from pipeline.tenant import Tenant, cli_tenant, kafka_options, kafka_settings, tenant_options

EXIT_REJECTED = 1
EXIT_INTERRUPTED = 3



def _groups(tenant: Tenant, extra: tuple[str, ...]) -> set[str]:
    return {g.strip().lower() for g in (*tenant.corp.groups, *extra) if g.strip()}


@click.group("directory")
def directory() -> None:
    """Export the address book, or import a spreadsheet of it (plan, then apply resumably)."""


@directory.command("export")
@click.option("--output", "-o", "output", type=click.Path(dir_okay=False), default="-", show_default=True,
              help="file to write ('-' = stdout)")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="default: from the output file's extension, else csv")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="header language of CSV/XLSX")
@click.option("--encoding", type=click.Choice(["utf-8", "utf-8-sig", "gbk"]), default="utf-8", show_default=True,
              help="CSV encoding (utf-8-sig adds the BOM Excel wants; gbk for older Chinese Excel)")
@click.option("--group", "groups", multiple=True,
              help="mail group to include (repeatable; the API cannot list groups; config groups are included)")
@click.option("--groups-from-log", "log_days", type=click.IntRange(min=1, max=92), default=None,
              help="also include the groups the operation log of the last N days added or edited")
@tenant_options
def export_cmd(output: str, fmt: str | None, lang: str, encoding: str, groups: tuple[str, ...],
               log_days: int | None, config_path: str | None, sim_credentials: str | None,
               corp: str | None) -> None:
    """Write the live directory: departments by path, users with every field, groups with members."""
    tenant = cli_tenant(config_path, sim_credentials, corp)
    try:
        kind = fmt or (detect_format(Path(output)) if output != "-" and Path(output).suffix else "csv")
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> dict[str, Any]:
        async with tenant.client() as client:
            wanted = _groups(tenant, groups)
            if log_days:
                local = timezone(timedelta(minutes=tenant.corp.utc_offset_minutes))
                wanted |= await groups_from_log(client, datetime.now(local).date(), log_days)
            return await export_directory(client, tenant.corp.corp_id, wanted)

    try:
        snapshot = asyncio.run(run())
    except SecretResolutionError as exc:
        raise click.ClickException(str(exc)) from None
    data = render(snapshot, kind, lang=lang, encoding=encoding)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(data)
    click.echo(f"exported {len(snapshot['departments'])} departments, {len(snapshot['users'])} users, "
               f"{len(snapshot['groups'])} groups as {kind}" + (f" to {output}" if output != "-" else ""), err=True)


def _print_plan(prepared: PreparedImport, as_json: bool) -> None:
    plan = prepared.plan
    if as_json:
        click.echo(orjson.dumps({"resumed": prepared.resumed, "done": prepared.journal.done_count()
                                 if prepared.resumed else 0, **plan.to_dict()}).decode())
        return
    head = "resuming" if prepared.resumed else "plan"
    click.echo(f"{head} {plan.id[:12]} for corp {plan.corp_id} from {plan.source}: {plan.summary()}")
    if prepared.resumed:
        click.echo(f"  {prepared.journal.done_count()} of {len(plan.ops)} ops finished before; "
                   f"journal {prepared.journal.path}")
    for op in plan.ops:
        click.echo(f"  {op.describe()}")
    for obj, count in sorted(plan.kept.items()):
        click.echo(f"  kept: {count} {obj}(s) not in the file (--delete deletes them)")
    for note in plan.notes:
        click.echo(f"  note: {note}")
    _print_rejected(plan.rejected)


def _print_rejected(rows: list[Rejected]) -> None:
    for r in rows:
        click.echo(f"  rejected {r}", err=True)


@directory.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="default: from the extension")
@click.option("--encoding", default=None, help="CSV encoding (default: UTF-8, else GBK)")
@click.option("--dry-run", is_flag=True, help="print the plan and stop")
@click.option("--delete", is_flag=True, help="also delete what the file does not hold (of the kinds it holds)")
@click.option("--group", "groups", multiple=True, help="known mail group (repeatable; --delete may delete it)")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="progress record (default: FILE.journal)")
@click.option("--discard-journal", is_flag=True, help="ignore an unfinished journal and plan afresh")
@click.option("--json", "as_json", is_flag=True, help="print the plan and the result as JSON lines")
@tenant_options
@kafka_options
def import_cmd(file: Path, fmt: str | None, encoding: str | None, dry_run: bool, delete: bool,
               groups: tuple[str, ...], journal_path: Path | None, discard_journal: bool, as_json: bool,
               config_path: str | None, sim_credentials: str | None, corp: str | None, bootstrap: str | None,
               topic_prefix: str | None) -> None:
    """Compare FILE with the live directory, print the plan, and apply it (unless --dry-run).

    Applying is resumable: after an interruption the same command finishes the plan without repeating a
    change. Every change is recorded on exmail.actions; rejected rows are listed with their line numbers."""
    tenant = cli_tenant(config_path, sim_credentials, corp)
    kafka = kafka_settings(tenant, bootstrap, topic_prefix)

    earlier: list[Rejected] = []

    async def run() -> tuple[PreparedImport, ApplyReport | None]:
        async with tenant.client() as client:
            prepared = await prepare_import(client, tenant.corp.corp_id, file, fmt=fmt, encoding=encoding,
                                            delete=delete, journal_path=journal_path,
                                            groups=_groups(tenant, groups), discard_journal=discard_journal)
            _print_plan(prepared, as_json)
            if dry_run or not prepared.plan.ops:
                return prepared, None
            if not prepared.resumed:
                prepared.journal.start(prepared.plan)
            earlier.extend(prepared.earlier_rejections())
            await asyncio.to_thread(ensure_topics, kafka.bootstrap, prefix=kafka.topic_prefix,
                                    partitions=kafka.partitions)
            producer = EventProducer(kafka)
            try:
                output = KafkaActionOutput(producer, TopicNames(kafka.topic_prefix))
                with click.progressbar(length=len(prepared.plan.ops), label="applying", file=sys.stderr,
                                       show_pos=True) as bar:
                    report = await apply_plan(prepared.plan, client, prepared.live, prepared.journal, output,
                                              passwords=prepared.passwords, requested_by=f"cli:{_user()}",
                                              progress=lambda op, outcome: bar.update(1))
            finally:
                await asyncio.to_thread(producer.close)
            return prepared, report

    try:
        prepared, report = asyncio.run(run())
    except (ImportRefused, JournalError) as exc:
        raise click.ClickException(str(exc)) from None
    except SecretResolutionError as exc:
        raise click.ClickException(str(exc)) from None
    except Interrupted as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    plan = prepared.plan
    if report is None:
        if not plan.ops:
            click.echo("nothing to do: the live directory already matches the file", err=True)
        sys.exit(EXIT_REJECTED if plan.rejected else 0)
    rejected = [*plan.rejected, *earlier, *report.rejected]
    if as_json:
        click.echo(orjson.dumps({"result": {"changed": report.changed, "unchanged": report.unchanged,
                                            "skipped": report.skipped,
                                            "rejected": [r.to_dict() for r in rejected]}}).decode())
    click.echo(f"applied plan {plan.id[:12]}: {report.changed} changed, {report.unchanged} already as wanted, "
               f"{report.skipped} finished earlier, {len(rejected)} rejected row(s)", err=True)
    _print_rejected([*earlier, *report.rejected])
    sys.exit(EXIT_REJECTED if rejected else 0)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
