"""`pipeline sim`: run the Exmail (+ WeCom/OA) simulator as a process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from datetime import datetime

import click

from pipeline.sim._server import Simulator
from pipeline.sim.config import CallbackConfig, FaultRule, SimConfig, TrafficConfig


def _parse_start(value: str | None) -> datetime | float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither Unix seconds nor ISO 8601 (2026-01-05T09:00:00+08:00)") \
            from None


def _parse_faults(values: tuple[str, ...]) -> list[FaultRule]:
    rules = []
    for value in values:
        try:
            rules.append(FaultRule.parse_flag(value))
        except ValueError as exc:
            raise click.BadParameter(f"--fault {value!r}: {exc}") from None
    return rules


@click.command("sim")
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", default=0, show_default=True, type=int, help="port; 0 picks a free one (printed)")
@click.option("--seed", default=1, show_default=True, type=int, help="seed of the company, traffic and faults")
@click.option("--users", default=300, show_default=True, type=int, help="number of mailboxes in the company")
@click.option("--domain", default="corp.example.com", show_default=True, help="the corp's mail domain")
@click.option("--speed", default=1.0, show_default=True, type=float,
              help="simulated seconds per real second (60 = one simulated minute per second)")
@click.option("--start", default=None, help="simulated start time (Unix seconds or ISO 8601; default now)")
@click.option("--history-hours", default=0.0, show_default=True, type=float,
              help="traffic to generate before the start time (no pushes for it)")
@click.option("--no-traffic", is_flag=True, help="disable the background traffic generator")
@click.option("--mails-per-user-per-day", default=6.0, show_default=True, type=float)
@click.option("--late-fraction", default=0.12, show_default=True, type=float,
              help="share of log records that become visible minutes to hours late")
@click.option("--token-expires-in", default=7200, show_default=True, type=int, help="access_token lifetime (s)")
@click.option("--expired-token-errcode", default=40014, show_default=True, type=click.Choice(
    ["40014", "42001", "40001"]), help="errcode answered for an expired access_token")
@click.option("--app-qps", default=None, type=float, help="per-app calls/s before 45009 (default unlimited)")
@click.option("--callback-url", default=None, help="URL to push new-mail callbacks to")
@click.option("--callback-mailbox", "callback_mailboxes", multiple=True,
              help="only push for this mailbox (repeatable; default all)")
@click.option("--fault", "faults", multiple=True, metavar="SPEC",
              help="fault rule, e.g. 'kind=errcode,errcode=45009,endpoint=log/*,probability=0.2' "
                   "(kinds: errcode, http_status, delay, drop, expire_token; keys: endpoint, probability, "
                   "count, errcode, errmsg, status, delay); repeatable")
@click.option("--fault-seed", default=None, type=int, help="seed of fault draws (default --seed)")
@click.option("--credentials-out", default=None, type=click.Path(dir_okay=False),
              help="write corp id, app secrets, callback token/AES key and base URLs as JSON here (mode 0600)")
@click.option("--log-level", default="INFO", show_default=True)
def sim_command(host: str, port: int, seed: int, users: int, domain: str, speed: float, start: str | None,
                history_hours: float, no_traffic: bool, mails_per_user_per_day: float, late_fraction: float,
                token_expires_in: int, expired_token_errcode: str, app_qps: float | None, callback_url: str | None,
                callback_mailboxes: tuple[str, ...], faults: tuple[str, ...], fault_seed: int | None,
                credentials_out: str | None, log_level: str) -> None:
    """Run the Exmail API simulator (plus WeCom/DingTalk/Feishu/OA receivers when installed).

    Serves the Exmail API under /cgi-bin/, the admin API under /_sim/ (ground truth, clock, faults,
    callback registration; see pipeline/sim/README.md) and Prometheus metrics at /metrics.
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = SimConfig(
        host=host, port=port, seed=seed, users=users, domain=domain, speed=speed, start=_parse_start(start),
        token_expires_in=token_expires_in,
        choices={"expired_token_errcode": int(expired_token_errcode), "app_qps": app_qps},
        traffic=TrafficConfig(enabled=not no_traffic, history_hours=history_hours,
                              mails_per_user_per_day=mails_per_user_per_day, late_fraction=late_fraction),
        callback=CallbackConfig(url=callback_url, mailboxes=list(callback_mailboxes) or None)
        if callback_url else None,
        faults=_parse_faults(faults), fault_seed=fault_seed,
    )
    asyncio.run(_serve(config, credentials_out))


async def _serve(config: SimConfig, credentials_out: str | None) -> None:
    sim = Simulator(config)
    await sim.start()
    if credentials_out:
        sim.write_credentials(credentials_out)
    click.echo(f"exmail simulator listening on {sim.base_url} (corp {sim.corp.corp_id}, "
               f"{len(sim.corp.directory.users)} users, surfaces: {', '.join(sorted(sim.surfaces)) or 'none'})",
               err=False)
    click.echo(f"  exmail base {sim.base_url}/cgi-bin/  admin {sim.base_url}/_sim/", err=False)
    if credentials_out:
        click.echo(f"  credentials written to {credentials_out}")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()
