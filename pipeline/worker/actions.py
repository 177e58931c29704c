"""The actions agent: hr.lifecycle, alerts that name an action, and options drift -> Exmail address-book and
useroption calls, with the ledger (crash-safe, idempotent) in the compacted topic exmail.state.actions.

Run it in one worker only: the ledger's indexes and hourly limits are shared state (see
pipeline/transforms/actions/README.md). Approval links and the operator API are served at /actions/api/...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from pipeline.auth import KafkaOperatorLog
from pipeline.dlq import Origin, dead_letter
from pipeline.metrics import DLQ_RECORDS
from pipeline.worker.app import WorkerContext

log = logging.getLogger(__name__)
RUN_DUE_EVERY_SECONDS = 15.0


def install_actions(ctx: WorkerContext) -> None:
    from pipeline.exmail import ExmailClient
    from pipeline.sources.config import client_settings
    from pipeline.transforms.actions import (
        ActionInputError,
        ActionsConfig,
        ActionService,
        KafkaActionOutput,
        KafkaLedgerStore,
        create_actions_app,
    )
    from pipeline.worker.alerting import load_routing

    app, names = ctx.app, ctx.names
    cfg = ActionsConfig.model_validate(ctx.config.actions)
    ingest = ctx.config.ingest
    if ingest is None or not ingest.corps:
        raise SystemExit("the actions agent needs ingest.corps (the Exmail credentials of each corp)")
    clients = {c.corp_id: ExmailClient(client_settings(c, 30)) for c in ingest.corps}
    groups = {c.corp_id: list(c.groups) for c in ingest.corps}
    store = KafkaLedgerStore(ctx.producer, ctx.kafka.bootstrap, names.state("actions"))

    async def known_groups(corp_id: str) -> list[str]:
        return groups.get(corp_id, [])

    routing = load_routing(ctx) if ctx.config.alerting.routing else None
    output = KafkaActionOutput(ctx.producer, names, routing.partition_key if routing is not None else None)
    service = ActionService(cfg, clients, store, output, group_source=known_groups)
    ctx.views["actions"] = service
    ctx.http_mounts.append(("/actions", create_actions_app(service, KafkaOperatorLog(ctx.producer, names.actions))))
    hr, alerts, options = names.hr_lifecycle, names.alerts, names.raw("options")
    source = app.topic(hr, alerts, options, key_type=bytes, value_type=bytes)
    handlers = {hr: service.handle_hr, alerts: service.handle_alert, options: service.handle_options}
    dlq = ctx.topic(names.dlq)

    async def run_due_forever() -> None:
        while True:
            await asyncio.sleep(RUN_DUE_EVERY_SECONDS)
            try:
                await service.run_due()
            except Exception:
                log.exception("actions: run_due failed; retrying on the next tick")

    @app.agent(source, name="actions")
    async def actions_agent(stream: Any) -> None:
        await store.load()
        await service.run_due()
        ticker = asyncio.create_task(run_due_forever())
        try:
            async for event in stream.events():
                msg = event.message
                try:
                    await handlers[msg.topic](event.value)
                except ActionInputError as exc:
                    letter = dead_letter(stage="actions", reason=str(exc), error_type="ActionInputError",
                                         origin=Origin(msg.topic, msg.partition, msg.offset, None),
                                         payload=event.value)
                    await dlq.send(key=msg.topic.encode(), value=letter.encode())
                    DLQ_RECORDS.labels("actions", "ActionInputError").inc()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            for client in clients.values():
                with contextlib.suppress(Exception):
                    await client.aclose()
