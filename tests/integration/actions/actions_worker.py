"""A stand-alone actions worker for the kill test (run as a script, not imported): loads the ledger from the
broker, handles the envelopes listed in the spec file with an ActionService against the simulator, prints one
line per action, exits. With "pause_after_update" in the spec it stops dead right after the simulator has
answered a user/update (prints "paused"), so the test can kill it between the server's change and the
worker's bookkeeping. Usage: python actions_worker.py SPEC.json"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from pipeline.actions import ActionsConfig, ActionService, KafkaActionOutput, KafkaLedgerStore
from pipeline.envelope import Envelope
from pipeline.exmail import ExmailClient, ExmailSettings
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames


class PausingClient:
    """The real client, except that it never returns from a successful user/update."""

    def __init__(self, client: ExmailClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def user_update(self, request: Any) -> None:
        await self._client.user_update(request)
        print("paused", flush=True)
        await asyncio.Event().wait()


async def main(spec: dict[str, Any]) -> None:
    producer = EventProducer(KafkaSettings(bootstrap=spec["bootstrap"], topic_prefix=spec["prefix"]))
    store = KafkaLedgerStore(producer, spec["bootstrap"], spec["ledger_topic"])
    await store.load()
    settings = ExmailSettings.model_validate(spec["exmail"])
    async with ExmailClient(settings) as client:
        api: Any = PausingClient(client) if spec.get("pause_after_update") else client
        service = ActionService(
            ActionsConfig.model_validate(spec["config"]),
            {settings.corp_id: api},
            store,
            KafkaActionOutput(producer, TopicNames(spec["prefix"])),
        )
        print("ready", flush=True)
        for raw in spec["envelopes"]:
            env = Envelope.from_dict(raw)
            entry = await (
                service.handle_hr(env) if env.schema == "hr.lifecycle/1" else service.handle_alert(env)
            )
            assert entry is not None
            print("handled", entry.id, entry.state.value, flush=True)
    producer.close()


if __name__ == "__main__":
    asyncio.run(main(orjson.loads(Path(sys.argv[1]).read_bytes())))
