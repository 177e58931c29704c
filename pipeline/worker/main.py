"""Run the faust worker in this process: agents from config, /metrics and /healthz, SIGTERM = clean stop."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import faust

from pipeline.config import PipelineConfig
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
    extra = {"consumer_group_instance_id": config.worker.instance_id} if config.worker.instance_id else {}
    ctx = build_app(config.worker.app_id, config.kafka, config=config,
                    agents=[installers[a] for a in selected], **extra)
    if config.worker.sse is not None:
        from pipeline.sinks.sse import create_sse_app

        ctx.http_mounts.append(("/sse", create_sse_app(config.worker.sse, ctx.kafka, ctx.names)))
    if config.worker.http_port:
        _serve_observability(ctx, config.worker.http_host, config.worker.http_port)
    _report_lag(ctx)
    return ctx


def _report_lag(ctx: WorkerContext) -> None:
    from pipeline.worker.lag import report_lag_forever

    def consumed() -> list[str]:
        assigned = ctx.app.consumer.assignment() if ctx.app._consumer is not None else set()
        return sorted({tp.topic for tp in assigned if not tp.topic.endswith("-changelog")})

    @ctx.app.task
    async def _lag() -> None:
        await report_lag_forever(ctx.kafka.bootstrap, ctx.app.conf.id, consumed)


def _serve_observability(ctx: WorkerContext, host: str, port: int) -> None:
    from pipeline.observability import start_observability_server

    state: dict[str, Any] = {}

    def health() -> dict[str, Any]:
        app = ctx.app
        return {"ok": not app.should_stop and bool(state.get("started")), "app_id": app.conf.id,
                "agents": sorted(a for a in app.agents)}

    @ctx.app.task
    async def _observability() -> None:
        def mount(web_app: Any) -> None:
            for prefix, sub in ctx.http_mounts:
                web_app.add_subapp(prefix, sub)

        state["runner"] = await start_observability_server(host, port, health, extra=mount)
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

    before_stop: list[Callable[[], Any]]

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)

    async def on_stop(self) -> None:
        """Runs before the app (a child service) stops: stages holding taken-but-unfinished work (delivery)
        release it here, or faust's consumer stop would wait for their acks."""
        for fn in getattr(self, "before_stop", ()):
            res = fn()
            if hasattr(res, "__await__"):
                await res
        await super().on_stop()


def run_worker(config: PipelineConfig, agents: list[AgentName] | None = None, loglevel: str = "WARNING") -> None:
    ctx = build_worker(config, agents)
    worker = QuietWorker(ctx.app, loglevel=loglevel, quiet=True)
    worker.before_stop = ctx.before_stop
    worker.execute_from_commandline()
