"""A new Exmail log type, added exactly the way docs/adding-a-log-type.md says, in a fresh interpreter
(tests/unit/test_streams.py runs this file and checks what it prints).

The made-up type is log/signin ("signin_log": time, operator, ip, result). The only things this file adds are
the parts a real change adds: (1) the catalog entry, (2) the client method (its endpoint row and method),
(3) the normalize mapper, (4) the simulator's record maker. Everything else (config models, topics, raw
schema table, identity fields, CLI choices, pollers, normalize dispatch, the simulator's store, truth, API,
generator and admin API) is the product's unchanged code, which must pick the new type up from the catalog.
It prints one JSON object of observations.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import orjson

from pipeline import streams
from pipeline.streams import LogQuery, SimHook, Stream

KIND = "signin_log"

# (1) the catalog entry. The catalog must know the kind before the modules deriving their tables load.
streams.register(Stream(
    KIND, "corp_id/operator", identity=("time", "operator", "ip", "result"),
    poller=KIND, interval=120.0, apps=("system_log",), mapper="__main__:to_event",
    log=LogQuery("log/signin", "log_signin", context={"query_result": 0}),
    sim=SimHook("signin", 12.0, "signin_records"),
))


# (3) the normalize mapper (a module of its own in a real change: pipeline/transforms/normalize/<kind>.py)
def to_event(raw: Envelope) -> dict[str, Any]:
    record = raw.data["record"]
    return {"event": {"dataset": f"exmail.{KIND}", "outcome": "success" if record["result"] == 0 else "failure"},
            "user": {"id": record["operator"]}, "source": {"ip": record["ip"]}}



import click  # noqa: E402  (everything below loads after the catalog entry, as in a real process)

from pipeline.envelope import Envelope  # noqa: E402
from pipeline.exmail import App, ExmailClient  # noqa: E402
from pipeline.exmail._endpoints import _DATES, ENDPOINTS, Endpoint  # noqa: E402
from pipeline.ingest.cli import backfill  # noqa: E402
from pipeline.kafka import TOPICS, TopicNames  # noqa: E402
from pipeline.records import LOG_IDENTITY_FIELDS, RAW_SCHEMAS  # noqa: E402
from pipeline.sim import SimConfig, run_simulator  # noqa: E402
from pipeline.sim._state import LogStore  # noqa: E402
from pipeline.sim.generator import TrafficGenerator, _View  # noqa: E402
from pipeline.sources._emit import Emitter  # noqa: E402
from pipeline.sources._runtime import CorpRuntime, Runtime  # noqa: E402
from pipeline.sources._window import CorpCalendar  # noqa: E402
from pipeline.sources.config import IngestConfig, client_settings, config_from_sim_credentials  # noqa: E402
from pipeline.sources.logs import LogPoller  # noqa: E402
from pipeline.sources.pollers import build_pollers  # noqa: E402
from pipeline.transforms.normalize import MAPPERS, normalize  # noqa: E402

# (2) the client method: its row in the endpoint table and the method (a real one parses into a model)
ENDPOINTS["log/signin"] = Endpoint("log/signin", "POST", App.SYSTEM_LOG, "#made-up", params=_DATES)


async def log_signin(self: ExmailClient, begin_date: date, end_date: date) -> list[dict[str, Any]]:
    body = {"begin_date": begin_date.isoformat(), "end_date": end_date.isoformat()}
    payload = await self._call("log/signin", body=body)
    return [dict(r) for r in payload["list"]]


ExmailClient.log_signin = log_signin  # type: ignore[attr-defined]


# (4) the simulator's record maker: one sign-in at t
def signin(self: TrafficGenerator, rng: random.Random, t: int, view: _View | None, push: bool) -> None:
    record = {"time": t, "operator": rng.choice(self.corp.company.admins), "ip": f"10.0.0.{rng.randrange(1, 255)}",
              "result": rng.choice([0, 0, 0, 1])}
    self._add(rng, KIND, record)


TrafficGenerator.signin = signin  # type: ignore[attr-defined]


def _refused(fn: Any) -> str:
    try:
        fn()
    except Exception as exc:
        return type(exc).__name__
    return "accepted"


async def _through_the_simulator(out: dict[str, Any]) -> None:
    today = "2026-03-10"
    yesterday = (date.fromisoformat(today) - timedelta(days=1)).isoformat()
    quiet = {"mails_per_user_per_day": 0, "logins_per_user_per_day": 0, "admin_ops_per_day": 0,
             "batchjobs_per_day": 0, "rates": {KIND: 14400}}  # background traffic: only sign-ins, 10 a minute
    config = SimConfig(users=30, seed=5, speed=0, start=f"{today}T09:00:00+08:00",
                       traffic={"enabled": False, **quiet})
    async with run_simulator(config) as sim:
        generated = await sim.admin.generate(yesterday, signin_records=7)  # the admin API takes the new count
        out["sim_generated"] = generated["generated"].get(KIND)
        truth = await sim.admin.truth(KIND, date=yesterday, visible_only=True)
        out["sim_store_kinds"] = list(LogStore.KINDS)
        with tempfile.TemporaryDirectory() as tmp:
            creds = Path(tmp) / "sim.json"
            creds.write_bytes(orjson.dumps(sim.credentials))
            base = config_from_sim_credentials(creds)
            corp_cfg = base.corps[0].model_copy(update={"streams": ["directory", KIND]})
            client = ExmailClient(client_settings(corp_cfg, 30))
            try:
                rt = Runtime(emitter=Emitter(cast(Any, None), TopicNames("p.")), cursors=cast(Any, None),
                             state=cast(Any, None), clock=sim.sim.clock, poll=base.poll, reader=cast(Any, None))
                corp = CorpRuntime(config=corp_cfg, client=client,
                                   calendar=CorpCalendar(corp_cfg.utc_offset_minutes))
                pollers = build_pollers(rt, corp)  # the sources build the new poller from the catalog
                out["pollers"] = sorted(pollers)
                poller = pollers[KIND]
                assert isinstance(poller, LogPoller)
                out["poller_interval"] = poller.interval
                day = date.fromisoformat(yesterday)
                groups = await poller.fetch(day, day)  # the simulator's API serves log/signin
                built = poller.build(day, day, groups)
            finally:
                await client.aclose()
        out["truth_ids"] = sorted(r["id"] for r in truth)
        envelopes = [Envelope.decode(value) for value in built.values]  # what the poller produces, as bytes
        out["polled_ids"] = sorted(e.id for e in envelopes)
        out["topics_written"] = [poller.topic] if envelopes else []
        out["contexts"] = sorted({orjson.dumps(e.data["context"]).decode() for e in envelopes})
        events = [normalize(e) for e in envelopes]
        out["events"] = [{"id": e.id, "schema": e.schema, "dataset": e.data["event"]["dataset"]} for e in events]
        generator = sim.sim.generator
        before = generator.counts[KIND]
        first_minute = int(sim.sim.clock.day_start(today)) // 60 - 14 * 60  # yesterday 10:00
        for minute in range(first_minute, first_minute + 30):
            generator.generate_minute(minute)
        out["sim_traffic"] = generator.counts[KIND] - before


def main() -> None:
    out: dict[str, Any] = {}
    corp = {"name": "c", "corp_id": "wwc", "secrets": {"system_log": "env:X"}}
    config = IngestConfig.model_validate({"corps": [{**corp, "streams": [KIND]}],
                                          "poll": {"intervals": {KIND: 30}}})
    out["config_streams"] = config.corps[0].streams
    out["config_interval"] = config.poll.intervals.of(KIND)
    out["default_interval"] = IngestConfig.model_validate({"corps": [corp]}).poll.intervals.of(KIND)
    out["default_streams_include"] = KIND in IngestConfig.model_validate({"corps": [corp]}).corps[0].streams
    out["bad_interval"] = _refused(lambda: IngestConfig.model_validate(
        {"corps": [corp], "poll": {"intervals": {KIND: 0}}}))
    out["unknown_stream"] = _refused(lambda: IngestConfig.model_validate({"corps": [{**corp, "streams": ["x_log"]}]}))
    out["topics"] = [t.name for t in TOPICS if KIND in t.name]
    out["raw_schema"] = RAW_SCHEMAS.get(KIND)
    out["identity"] = list(LOG_IDENTITY_FIELDS.get(KIND, ()))
    stream_option = next(p for p in backfill.params if p.name == "streams")
    assert isinstance(stream_option.type, click.Choice)
    out["backfill_choices"] = list(stream_option.type.choices)
    out["mapper"] = MAPPERS.get(f"exmail.raw.{KIND}/1") is to_event
    asyncio.run(_through_the_simulator(out))
    sys.stdout.write(orjson.dumps(out).decode() + "\n")


if __name__ == "__main__":
    main()
