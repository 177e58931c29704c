"""Run the faust worker in this process: agents from config, /metrics and /healthz, SIGTERM = clean stop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust

from pipeline.auth import Authenticator, Role, secure_app
from pipeline.config import PipelineConfig
from pipeline.secrets import resolve_secret
from pipeline.worker.app import WorkerContext, build_app
from pipeline.worker.config import AgentName

log = logging.getLogger(__name__)


def _installers() -> dict[str, Callable[[WorkerContext], None]]:
    from pipeline.worker.normalize import install_normalize

    table: dict[str, Callable[[WorkerContext], None]] = {"normalize": install_normalize}
    from pipeline.worker.actions import install_actions
    from pipeline.worker.alerting import install_alerting
    from pipeline.worker.audit import install_audit
    from pipeline.worker.delivery import install_delivery
    from pipeline.worker.siem import install_siem

    table["audit"] = install_audit
    table["siem"] = install_siem
    table["alerting"] = install_alerting
    table["delivery"] = install_delivery
    table["actions"] = install_actions
    return table


def build_worker(config: PipelineConfig, agents: list[AgentName] | None = None) -> WorkerContext:
    selected = list(agents or config.worker.agents)
    installers = _installers()
    unknown = [a for a in selected if a not in installers]
    if unknown:
        raise SystemExit(f"agents not available in this build: {', '.join(unknown)}")
    ctx = build_app(config.worker.app_id, config.kafka, config=config,
                    agents=[installers[a] for a in selected])
    extra_tokens: list[Any] = []
    if config.worker.sse is not None:
        from pipeline.sinks.sse import create_sse_app, sse_credentials

        ctx.http_mounts.append(("/sse", create_sse_app(config.worker.sse, ctx.kafka, ctx.names)))
        extra_tokens = sse_credentials(config.worker.sse)
    api_token = config.actions.get("api_token") if "actions" in selected else None
    if isinstance(api_token, str):  # the former actions-only token: an operator + approver credential
        extra_tokens.append(("actions-api-token", frozenset({Role.OPERATOR, Role.APPROVER}),
                             resolve_secret(api_token)))
    if config.worker.http_port:
        auth = Authenticator(config.auth, extra_tokens=extra_tokens)
        if config.worker.console is not None:
            _mount_console(ctx, config, auth)
        _serve_observability(ctx, config.worker.http_host, config.worker.http_port, auth)
    _report_lag(ctx)
    return ctx


def _mount_console(ctx: WorkerContext, config: PipelineConfig, auth: Authenticator) -> None:
    from pipeline.auth import KafkaOperatorLog
    from pipeline.console import ConsoleDeps, create_console_app
    from pipeline.console._pipeline import stage_topics

    assert config.worker.console is not None
    deps = ConsoleDeps(config=config.worker.console, auth=auth, kafka=ctx.kafka, names=ctx.names,
                       group=ctx.app.conf.id, audit=config.worker.audit, views=ctx.views,
                       topics=lambda: stage_topics(ctx.app),
                       operator_log=KafkaOperatorLog(ctx.producer, ctx.names.actions))
    ctx.http_mounts.append(("/console", create_console_app(deps)))


def _report_lag(ctx: WorkerContext) -> None:
    from pipeline.worker.lag import report_lag_forever

    def consumed() -> list[str]:
        assigned = ctx.app.consumer.assignment() if ctx.app._consumer is not None else set()
        return sorted({tp.topic for tp in assigned if not tp.topic.endswith("-changelog")})

    @ctx.app.task
    async def _lag() -> None:
        await report_lag_forever(ctx.kafka.bootstrap, ctx.app.conf.id, consumed)


def _serve_observability(ctx: WorkerContext, host: str, port: int, auth: Authenticator) -> None:
    """Build the HTTP app now, so an undeclared route or an unauthenticated state-changing API stops the
    worker before it joins the consumer group; serve it once the app runs."""
    from aiohttp import web

    from pipeline.observability import add_observability_routes, start_server

    state: dict[str, Any] = {}

    def health() -> dict[str, Any]:
        app = ctx.app
        return {"ok": not app.should_stop and bool(state.get("started")), "app_id": app.conf.id,
                "agents": sorted(a for a in app.agents)}

    web_app = web.Application()
    add_observability_routes(web_app, health)
    for prefix, sub in ctx.http_mounts:
        web_app.add_subapp(prefix, sub)
    secure_app(web_app, auth, process="worker", host=host)

    @ctx.app.task
    async def _observability() -> None:
        state["runner"] = await start_server(web_app, host, port, auth, process="worker", secured=True)
        state["started"] = True

    async def _close() -> None:
        runner = state.get("runner")
        if runner is not None:
            await runner.cleanup()

    ctx.on_stop.append(_close)


class QuietWorker(faust.Worker):
    """faust's terminal spinner sets the root logger to DEBUG when the level is WARNING or above, so every
    debug call in aiokafka/httpcore/faust builds a record (measured: ~15% of a core under load) and the logs
    fill with cursor escapes. No spinner, no root-level override."""

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)


def run_worker(config: PipelineConfig, agents: list[AgentName] | None = None, loglevel: str = "WARNING") -> None:
    ctx = build_worker(config, agents)
    worker = QuietWorker(ctx.app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
