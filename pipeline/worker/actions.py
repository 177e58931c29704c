"""The actions agent: hr.lifecycle, alerts that name an action, and options drift -> Exmail address-book and
useroption calls, with the ledger (crash-safe, idempotent) in the compacted topic exmail.state.actions.

Only the wiring lives here (clients from ingest.corps, the ledger topic, the output, the HTTP mount, dead
letters); the service and its life in a consumer (pipeline.actions.ActionsRunner) belong to pipeline/actions.
Run it in one worker only: the ledger's indexes and hourly limits are shared state (see
pipeline/actions/README.md). Approval links and the operator API are served at /actions/api/...
"""

from __future__ import annotations

from typing import Any

from pipeline.actions import (
    ActionInputError,
    ActionsConfig,
    ActionService,
    ActionsRunner,
    KafkaActionOutput,
    KafkaLedgerStore,
    create_actions_app,
)
from pipeline.auth import KafkaOperatorLog
from pipeline.dlq import DeadLetters, Origin
from pipeline.exmail import ExmailClient
from pipeline.sources.config import client_settings
from pipeline.worker.app import WorkerContext


def install_actions(ctx: WorkerContext) -> None:
    app, names = ctx.app, ctx.names
    cfg = ctx.config.actions or ActionsConfig()
    ingest = ctx.config.ingest
    if ingest is None or not ingest.corps:
        raise SystemExit("the actions agent needs ingest.corps (the Exmail credentials of each corp)")
    clients = {c.corp_id: ExmailClient(client_settings(c, 30)) for c in ingest.corps}
    groups = {c.corp_id: list(c.groups) for c in ingest.corps}
    store = KafkaLedgerStore(ctx.producer, ctx.kafka.bootstrap, names.state("actions"))

    async def known_groups(corp_id: str) -> list[str]:
        return groups.get(corp_id, [])

    routing = ctx.config.alerting.routing
    output = KafkaActionOutput(ctx.producer, names, routing.partition_key if routing is not None else None)
    service = ActionService(cfg, clients, store, output, group_source=known_groups)
    ctx.views["actions"] = service
    ctx.http_mounts.append(("/actions", create_actions_app(service, KafkaOperatorLog(ctx.producer, names.actions))))
    runner = ActionsRunner(service, hr_topic=names.hr_lifecycle, alerts_topic=names.alerts,
                           options_topic=names.raw("options"), load=store.load, clients=clients.values())
    source = app.topic(*runner.topics, key_type=bytes, value_type=bytes)
    dlq = ctx.topic(names.dlq)
    dead = DeadLetters(names.dlq)

    @app.agent(source, name="actions")
    async def actions_agent(stream: Any) -> None:
        async with runner:
            async for event in stream.events():
                msg = event.message
                try:
                    await runner.handle(msg.topic, event.value)
                except ActionInputError as exc:
                    letter = dead.letter(stage="actions", reason=str(exc), error_type="ActionInputError",
                                         origin=Origin(msg.topic, msg.partition, msg.offset, None),
                                         payload=event.value)
                    await dlq.send(key=letter.key, value=letter.value)
