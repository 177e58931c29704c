"""Which Exmail tenant an operator command talks to: a corp of the ingest config, or a running simulator.

The admin commands (`pipeline directory`, `pipeline policy`, `pipeline api`) share this so they accept the
same `--config FILE [--corp NAME]` or `--sim-credentials FILE` as `pipeline ingest`, and build the client the
same way (secrets resolved from their references, the corp's rate-limit tuning applied).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from pipeline.exmail import ExmailClient
from pipeline.kafka import KafkaSettings
from pipeline.sources.config import CorpConfig, IngestConfig, client_settings, config_from_sim_credentials


class TenantError(ValueError):
    """The tenant could not be selected or its config is invalid; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class Tenant:
    config: IngestConfig
    corp: CorpConfig

    @property
    def kafka(self) -> KafkaSettings:
        return self.config.kafka

    def client(self) -> ExmailClient:
        """A new client for the corp (the caller closes it). Resolves the secret references now."""
        return ExmailClient(client_settings(self.corp, self.config.poll.span_days))


def load_tenant(config_path: str | Path | None, sim_credentials: str | Path | None,
                corp: str | None = None) -> Tenant:
    """Exactly one of `config_path` / `sim_credentials`; `corp` (name or corp_id) is needed when the config
    holds several corps."""
    if bool(config_path) == bool(sim_credentials):
        raise TenantError("give exactly one of --config FILE or --sim-credentials FILE")
    try:
        config = (IngestConfig.from_file(config_path) if config_path
                  else config_from_sim_credentials(str(sim_credentials)))
    except ValidationError as exc:
        lines = [f"  {'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors()]
        raise TenantError("invalid ingest config:\n" + "\n".join(lines)) from None
    except (OSError, ValueError) as exc:
        raise TenantError(f"cannot load config: {exc}") from None
    if corp is None:
        if len(config.corps) > 1:
            names = ", ".join(c.name for c in config.corps)
            raise TenantError(f"the config holds several corps ({names}): choose one with --corp")
        return Tenant(config, config.corps[0])
    try:
        return Tenant(config, config.corp(corp))
    except KeyError:
        raise TenantError(f"--corp {corp}: not in the config") from None


def tenant_options(fn: Any) -> Any:
    """The click options every admin command shares: --config / --sim-credentials / --corp."""
    for option in reversed([
        click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False),
                     help="ingest config (YAML/JSON; a top-level 'ingest:' section is used when present)"),
        click.option("--sim-credentials", type=click.Path(exists=True, dir_okay=False),
                     help="a running simulator's credentials JSON instead of a config"),
        click.option("--corp", default=None, help="corp name or corp_id when the config holds several"),
    ]):
        fn = option(fn)
    return fn


def kafka_options(fn: Any) -> Any:
    """Where the change records go (exmail.actions): the config's kafka section unless overridden."""
    for option in reversed([
        click.option("--bootstrap", default=None, help="override kafka.bootstrap"),
        click.option("--topic-prefix", default=None, help="override kafka.topic_prefix"),
    ]):
        fn = option(fn)
    return fn


def kafka_settings(tenant: Tenant, bootstrap: str | None, topic_prefix: str | None) -> KafkaSettings:
    update = {k: v for k, v in {"bootstrap": bootstrap, "topic_prefix": topic_prefix}.items() if v is not None}
    return tenant.kafka.model_copy(update=update)


def cli_tenant(config_path: str | None, sim_credentials: str | None, corp: str | None) -> Tenant:
    """load_tenant for a click command: a bad choice of tenant is a usage error, with the reason."""
    try:
        return load_tenant(config_path, sim_credentials, corp)
    except TenantError as exc:
        raise click.UsageError(str(exc)) from None
