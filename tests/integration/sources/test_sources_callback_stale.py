"""A valid push that arrives outside the receiver's replay window (Exmail re-sending it late) is refused with
403 stale_timestamp and produces nothing, and the newcount poller still records the new mail."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.ingest import Ingest

pytestmark = pytest.mark.integration


async def test_push_refused_as_stale_is_recovered_by_the_newcount_poller(
    sim: Any, make_config: Any, read_topic: Any, topic_prefix: str, today: str,
) -> None:
    await sim.admin.set_clock(f"{today}T10:00:00+08:00")
    config = make_config(sim, streams=["newcount"])
    corp_cfg = config.corps[0]
    assert corp_cfg.callback is not None and corp_cfg.callback.replay_window_seconds == 300
    service = sim.credentials["service_mailbox"]
    ingest = Ingest(config, clock=sim.sim.clock)
    try:
        await ingest.start(serve_http=True, pollers=False)
        url = f"{ingest.http_url}{corp_cfg.callback_path}"
        # Exmail re-sends a push 400 s after its first attempt, with the first attempt's timestamp
        assert (await sim.admin.register_callback(url=url, verify=True, timestamp_age=400, max_attempts=2,
                                                  backoff_initial=0.05))["errcode"] == 0
        newcount = next(iter(ingest.corps.values())).pollers["newcount"]
        await newcount.prepare()
        assert await newcount.run_once()  # baseline count
        await sim.admin.deliver_mail(service, subject="order 42")
        pushes = await sim.admin.pushes(wait=True, max_wait=15)
        assert [p["outcome"] for p in pushes] == ["failed"]
        assert [a["status"] for a in pushes[0]["attempts"]] == [403, 403]  # stale_timestamp, nothing produced
        assert await read_topic(f"{topic_prefix}exmail.raw.new_mail") == []

        assert await newcount.run_once()  # the poller sees the count rise
        [record] = await read_topic(f"{topic_prefix}exmail.raw.new_mail")
        assert record["data"]["via"] == "poll" and record["data"]["userid"] == service
        assert record["data"]["new_count"] == record["data"]["previous_count"] + 1
        truth = [t for t in await sim.admin.truth("new_mail") if t["userid"] == service]
        assert record["data"]["correlation_key"] == truth[-1]["correlation_key"]  # the very mail the push carried
    finally:
        await ingest.stop()
