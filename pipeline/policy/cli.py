"""`pipeline policy plan|apply`: arguments, printing and the progress bar; the work is in _run.py."""

from __future__ import annotations

import asyncio
import getpass
import sys

import click
import orjson

from pipeline.actions import KafkaActionOutput
from pipeline.kafka import EventProducer, TopicNames, ensure_topics
from pipeline.policy._run import (
    ApplyReport,
    Interrupted,
    PolicyError,
    PolicyPlan,
    apply_policy_plan,
    make_policy_plan,
)
from pipeline.secrets import SecretResolutionError
from pipeline.tenant import cli_tenant, kafka_options, kafka_settings, tenant_options

EXIT_FAILED = 1
EXIT_INTERRUPTED = 3



def _print_plan(plan: PolicyPlan, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps(plan.to_dict()).decode())
        return
    scope = f" under {plan.department}" if plan.department else ""
    click.echo(f"policy plan {plan.id[:12]} for corp {plan.corp_id}{scope}: {len(plan.members)} of {plan.checked} "
               "members differ")
    for m in plan.members:
        parts = [f"{s.name} {s.actual!s} -> {s.desired} ({s.rule}{'' if s.settable else ', read-only'})"
                 for s in m.settings]
        click.echo(f"  {m.userid:<36} {'; '.join(parts)}")
    for rule, count in sorted(plan.by_rule().items()):
        click.echo(f"  rule {rule}: {count} setting(s)")
    for line in plan.unreadable:
        click.echo(f"  unreadable: {line}", err=True)


@click.group("policy")
def policy() -> None:
    """Desired useroption settings by department, group and user: plan and apply."""


@policy.command("plan")
@click.option("--department", default=None, help="only members of this department path (and below)")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@tenant_options
def plan_cmd(department: str | None, as_json: bool, config_path: str | None, sim_credentials: str | None,
             corp: str | None) -> None:
    """Show who differs from the policy, in which setting, and which rule wants it."""
    tenant = cli_tenant(config_path, sim_credentials, corp)

    async def run() -> PolicyPlan:
        async with tenant.client() as client:
            return await make_policy_plan(client, tenant.corp, department)

    try:
        plan = asyncio.run(run())
    except (PolicyError, SecretResolutionError) as exc:
        raise click.ClickException(str(exc)) from None
    except Interrupted as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    _print_plan(plan, as_json)


@policy.command("apply")
@click.option("--department", default=None, help="only members of this department path (and below)")
@click.option("--dry-run", is_flag=True, help="print the plan and stop")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="change at most this many members")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
@tenant_options
@kafka_options
def apply_cmd(department: str | None, dry_run: bool, limit: int | None, as_json: bool, config_path: str | None,
              sim_credentials: str | None, corp: str | None, bootstrap: str | None,
              topic_prefix: str | None) -> None:
    """Set what differs (useroption/update, paced by the client's rate limits); each change on exmail.actions."""
    tenant = cli_tenant(config_path, sim_credentials, corp)
    kafka = kafka_settings(tenant, bootstrap, topic_prefix)

    async def run() -> tuple[PolicyPlan, ApplyReport | None]:
        async with tenant.client() as client:
            plan = await make_policy_plan(client, tenant.corp, department)
            _print_plan(plan, as_json)
            if dry_run or not plan.members:
                return plan, None
            await asyncio.to_thread(ensure_topics, kafka.bootstrap, prefix=kafka.topic_prefix,
                                    partitions=kafka.partitions)
            producer = EventProducer(kafka)
            try:
                output = KafkaActionOutput(producer, TopicNames(kafka.topic_prefix))
                with click.progressbar(length=len(plan.members), label="applying", file=sys.stderr,
                                       show_pos=True) as bar:
                    report = await apply_policy_plan(client, plan, output, requested_by=f"cli:{_user()}",
                                                     limit=limit, progress=lambda m: bar.update(1))
            finally:
                await asyncio.to_thread(producer.close)
            return plan, report

    try:
        plan, report = asyncio.run(run())
    except (PolicyError, SecretResolutionError) as exc:
        raise click.ClickException(str(exc)) from None
    except Interrupted as exc:
        click.echo(f"interrupted: {exc}", err=True)
        sys.exit(EXIT_INTERRUPTED)
    if report is None:
        if not plan.members:
            click.echo("nothing to do: every member matches the policy", err=True)
        return
    if as_json:
        click.echo(orjson.dumps({"result": {"changed": report.changed, "failed": report.failed,
                                            "read_only": report.read_only, "left": report.left}}).decode())
    click.echo(f"applied: {report.changed} member(s) changed, {len(report.failed)} failed, "
               f"{report.read_only} read-only setting(s) not settable, {report.left} left by --limit", err=True)
    for userid, why in report.failed:
        click.echo(f"  failed {userid}: {why}", err=True)
    sys.exit(EXIT_FAILED if report.failed else 0)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
