"""Run the faust worker in this process: agents from config, /metrics and /healthz, SIGTERM = clean stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust
from aiohttp import web

from pipeline.auth import Authenticator, KafkaOperatorLog, Role, secure_app
from pipeline.config import PipelineConfig
from pipeline.console import ConsoleDeps, create_console_app
from pipeline.kafka import TOPICS, ensure_topics, partition_counts
from pipeline.metrics import AGENT_CRASHES, REBALANCES
from pipeline.observability import add_observability_routes, start_server
from pipeline.secrets import resolve_secret
from pipeline.sinks.sse import create_sse_app, sse_credentials
from pipeline.worker._gc import tune_gc
from pipeline.worker.alerting import install_alerting, install_dispatch, install_rules
from pipeline.worker.app import WorkerContext, build_app
from pipeline.worker.audit import install_audit
from pipeline.worker.config import AgentName
from pipeline.worker.delivery import install_delivery
from pipeline.worker.lag import LagMonitor, Watched
from pipeline.worker.normalize import install_normalize
from pipeline.worker.plain import run_without_faust
from pipeline.worker.siem import install_siem
from pipeline.worker.watchdog import LoopWatchdog

log = logging.getLogger(__name__)


def install_actions(ctx: WorkerContext) -> None:
    """The actions agent (pipeline.worker.actions), imported when a worker runs it."""
    # imported on use: the actions service with its Exmail client and models is ~0.3 s of start-up that a
    # worker without the actions agent should not pay (worker start to healthy has a 3 s bound)
    from pipeline.worker.actions import install_actions as install

    install(ctx)


# agent name (worker.agents, --agent) -> the unit that installs it; "alerting" = rules + dispatch
INSTALLERS: dict[AgentName, Callable[[WorkerContext], None]] = {
    "normalize": install_normalize,
    "audit": install_audit,
    "siem": install_siem,
    "alerting": install_alerting,
    "rules": install_rules,
    "dispatch": install_dispatch,
    "delivery": install_delivery,
    "actions": install_actions,
}


def build_worker(config: PipelineConfig, agents: list[AgentName] | None = None) -> WorkerContext:
    selected = list(dict.fromkeys(agents or config.worker.agents))
    if "alerting" in selected:  # alerting = rules + dispatch
        selected = [a for a in selected if a not in ("rules", "dispatch")]
    installers = INSTALLERS
    extra = {"consumer_group_instance_id": config.worker.instance_id} if config.worker.instance_id else {}
    ctx = build_app(config.worker.app_id, config.kafka, config=config,
                    agents=[installers[a] for a in selected], **extra)
    extra_tokens: list[Any] = []
    if config.worker.sse is not None:
        ctx.http_mounts.append(("/sse", create_sse_app(config.worker.sse, ctx.kafka, ctx.names)))
        extra_tokens = sse_credentials(config.worker.sse)
    api_token = config.actions.api_token if config.actions is not None and "actions" in selected else None
    if api_token is not None:  # the former actions-only token: an operator + approver credential
        extra_tokens.append(("actions-api-token", frozenset({Role.OPERATOR, Role.APPROVER}),
                             resolve_secret(api_token)))
    monitor = LagMonitor(ctx.kafka.bootstrap, stall_after=config.worker.stall_seconds,
                         interval=config.worker.lag_probe_seconds)
    _watch_progress(ctx, monitor)
    _log_rebalances(ctx.app)
    _count_agent_crashes(ctx.app)
    if config.worker.http_port:
        auth = Authenticator(config.auth, extra_tokens=extra_tokens)
        if config.worker.console is not None:
            _mount_console(ctx, config, auth, monitor)
        _serve_observability(ctx, config.worker.http_host, config.worker.http_port, monitor, auth)
    return ctx


def _mount_console(ctx: WorkerContext, config: PipelineConfig, auth: Authenticator, monitor: LagMonitor) -> None:
    assert config.worker.console is not None
    deps = ConsoleDeps(config=config.worker.console, auth=auth, kafka=ctx.kafka, names=ctx.names,
                       group=ctx.app.conf.id, audit=config.worker.audit, views=ctx.views, monitor=monitor,
                       agents=lambda: agent_topics(ctx.app),
                       corps=list(config.ingest.corps) if config.ingest is not None else [],
                       operator_log=KafkaOperatorLog(ctx.producer, ctx.names.actions))
    ctx.http_mounts.append(("/console", create_console_app(deps)))


def agent_topics(app: faust.App) -> dict[str, list[str]]:
    """{topic: [agent, ...]} for the agents this worker runs."""
    out: dict[str, list[str]] = {}
    for name, agent in sorted(app.agents.items()):
        for topic in getattr(agent.channel, "topics", ()) or ():
            out.setdefault(str(topic), []).append(name.rsplit(".", 1)[-1])
    return out


def _serve_observability(ctx: WorkerContext, host: str, port: int, monitor: LagMonitor,
                         auth: Authenticator) -> None:
    """Build the HTTP app now, so an undeclared route or an unauthenticated state-changing API stops the
    worker before it joins the consumer group; serve it once the app runs."""
    state: dict[str, Any] = {}

    def health() -> dict[str, Any]:
        app = ctx.app
        progress = monitor.health()
        return {**progress, "ok": not app.should_stop and bool(state.get("started")) and progress["ok"],
                "app_id": app.conf.id, "agents": sorted(a for a in app.agents)}

    web_app = web.Application()
    add_observability_routes(web_app, health)
    for prefix, sub in ctx.http_mounts:
        web_app.add_subapp(prefix, sub)
    secure_app(web_app, auth, process="worker", host=host)

    @ctx.task
    async def _observability() -> None:
        state["runner"] = await start_server(web_app, host, port, auth, process="worker", secured=True)
        state["started"] = True

    async def _close() -> None:
        runner = state.get("runner")
        if runner is not None:
            await runner.cleanup()

    ctx.on_stop.append(_close)


def _watch_progress(ctx: WorkerContext, monitor: LagMonitor) -> None:
    """Lag and stall watch over the faust app's own partitions (table changelogs are recovery, not work)."""
    app = ctx.app

    def assigned() -> list[tuple[str, int]]:
        if app._consumer is None:
            return []
        return [(tp.topic, tp.partition) for tp in app.consumer.assignment() if not tp.topic.endswith("-changelog")]

    monitor.watch(Watched("faust", app.conf.id, assigned, lambda: faust_state(app)))
    for consumer in ctx.batch_consumers:  # normalize, audit, SIEM: each its own group
        monitor.watch(Watched(consumer.name, consumer.group, consumer.progress.assignment, consumer.describe))
    for watched in ctx.watched:  # dispatch, delivery: consumer loops of their own
        monitor.watch(watched)

    @ctx.task
    async def _lag() -> None:
        await monitor.run_forever()

    watchdog = LoopWatchdog()

    @ctx.task  # under faust and without it (batch units only)
    async def _watchdog() -> None:
        await watchdog.run()

    ctx.on_stop.append(monitor.close)


def _log_rebalances(app: faust.App) -> None:
    """Assignment and revocation at INFO by default: the first thing to know when a worker stops moving."""
    group = app.conf.id

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def _revoked(_app: Any, revoked: set[Any], **_: Any) -> None:
        REBALANCES.labels(group, "revoked").inc()
        log.info("partitions revoked from group %s: %s", group, _tp_text(revoked))

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def _assigned(_app: Any, assigned: set[Any], **_: Any) -> None:
        REBALANCES.labels(group, "assigned").inc()
        log.info("partitions assigned to group %s: %s", group, _tp_text(assigned))


def _count_agent_crashes(app: faust.App) -> None:
    """faust logs an agent's exception and restarts the agent; count it too, so a crash loop shows on a graph."""

    async def on_error(agent: Any, exc: BaseException) -> None:
        AGENT_CRASHES.labels(agent.name).inc()
        log.error("agent %s crashed and is restarted by its supervisor: %s: %s", agent.name,
                  type(exc).__name__, exc)

    for agent in app.agents.values():
        if getattr(agent, "_on_error", None) is None:
            agent._on_error = on_error


def _tp_text(tps: set[Any]) -> str:
    by_topic: dict[str, list[int]] = {}
    for tp in tps:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    return ", ".join(f"{t}{sorted(ps)}" for t, ps in sorted(by_topic.items())) or "(none)"


def faust_state(app: faust.App) -> dict[str, Any]:
    """The faust consumer's account of itself, logged with a stall: flow, paused partitions, unacked messages,
    stream buffers and where each agent is waiting."""
    consumer = app.consumer
    state: dict[str, Any] = {
        "flow_active": getattr(consumer, "flow_active", None),
        "paused": _tp_text(set(getattr(consumer, "_paused_partitions", set()))),
        "unacked": len(getattr(consumer, "_unacked_messages", ())),
        "rebalancing": bool(getattr(app, "rebalancing", False)),
    }
    buffers = {}
    for channel in list(app.topics):
        queue = getattr(channel, "queue", None)
        if queue is not None and queue.qsize():
            buffers[str(getattr(channel, "topics", channel))[:80]] = queue.qsize()
    state["stream_buffers"] = buffers
    state["agents"] = app.agents.human_tracebacks()[-4000:]
    return state


class QuietWorker(faust.Worker):
    """faust's terminal spinner sets the root logger to DEBUG when the level is WARNING or above, so every
    debug call in aiokafka/httpcore/faust builds a record (measured: ~15% of a core under load) and the logs
    fill with cursor escapes. No spinner, no root-level override."""

    before_stop: list[Callable[[], Any]]
    before_start: list[Callable[[], None]]

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)
        # our own INFO lines (rebalances, stalls, sinks) stay; the libraries' per-request chatter does not
        for name in _CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(max(level, logging.WARNING))

    async def on_execute(self) -> None:
        """Runs after logging is set up and before the app (a child service) starts: blocking preparations that
        must be done before faust's consumer and tables start, run in a thread, each logging what it did."""
        await super().on_execute()
        for fn in getattr(self, "before_start", ()):
            await asyncio.to_thread(fn)

    async def on_stop(self) -> None:
        """Runs before the app (a child service) stops: stages holding taken-but-unfinished work (delivery)
        release it here, or faust's consumer stop would wait for their acks."""
        for fn in getattr(self, "before_stop", ()):
            res = fn()
            if hasattr(res, "__await__"):
                await res
        await super().on_stop()


_CHATTY_LIBRARIES = ("faust", "mode", "aiokafka", "httpx", "httpcore", "aiohttp.access")


def ensure_worker_topics(config: PipelineConfig, ctx: WorkerContext) -> None:
    """Create the missing topics this worker reads or writes before any consumer subscribes. A faust (aiokafka)
    consumer that subscribes to a topic missing at that moment ignores it ("Ignoring missing topic") until its
    next metadata refresh, even through rebalances: the agent reading it sits idle without another word (the
    cold-start stall of issue 11, tests/integration/worker/test_worker_cold_start.py). Only this worker's
    topics: a worker of one agent does not create the whole catalog. A broker that does not answer yet is no
    reason not to start: the consumers find the topics when they appear (faust's metadata age is 30 s)."""
    k = config.kafka
    used = {t for c in ctx.batch_consumers for t in c.topics} | set(ctx.topics)
    specs = tuple(s for s in TOPICS if k.topic_prefix + s.name in used)
    if not specs:
        return
    try:
        wanted = [k.topic_prefix + s.name for s in specs]
        missing = set(wanted) - set(partition_counts(k.bootstrap, wanted))
        if not missing:
            return
        created = ensure_topics(k.bootstrap, prefix=k.topic_prefix, partitions=k.partitions,
                                replication_factor=k.replication_factor, timeout=10.0,
                                specs=tuple(s for s in specs if k.topic_prefix + s.name in missing))
    except Exception as exc:
        log.warning("topics not checked at start (%s): the consumers pick them up when they appear", exc)
        return
    if created:
        log.info("created %d missing topics before subscribing: %s", len(created), ", ".join(sorted(created)))


def align_changelogs(ctx: WorkerContext) -> None:
    """Grow the table changelogs narrower than their source topics (partitions added while no worker ran) before
    faust starts, so its consumer subscribes to equally wide topics and its own width check passes. A broker
    that does not answer yet is no reason not to start: the rules agent grows them before the first write that
    needs it (CoPartitionedChangelog.ready). A changelog wider than its source stops the worker (SystemExit)."""
    for changelog in ctx.changelogs:
        try:
            changelog.align_at_start()
        except Exception as exc:
            log.warning("%s not checked at start (%s): it is grown before the first write that needs it",
                        changelog.changelog, exc)


def run_worker(config: PipelineConfig, agents: list[AgentName] | None = None, loglevel: str = "INFO") -> None:
    ctx = build_worker(config, agents)
    ensure_worker_topics(config, ctx)
    tune_gc()
    if not ctx.app.agents:
        # only batch units: faust would have nothing to consume (and aiokafka refuses an empty subscription)
        raise SystemExit(run_without_faust(ctx, loglevel, quiet=_CHATTY_LIBRARIES))
    for fn in ctx.tasks:
        ctx.app.task(fn)
    worker = QuietWorker(ctx.app, loglevel=loglevel, quiet=True)
    worker.before_stop = ctx.before_stop
    worker.before_start = [lambda: align_changelogs(ctx)]
    worker.execute_from_commandline()
