"""pipeline/kafka/claims.py against the real broker: first claim wins across processes and restarts."""

from __future__ import annotations

import asyncio
import time

from pipeline.kafka import KafkaSettings, TopicSpec, ensure_topics
from pipeline.kafka.claims import ClaimLog
from pipeline.kafka.producer import EventProducer


def test_one_winner_per_key_across_logs_and_a_restart(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}exmail.state.claims"
    ensure_topics(kafka_bootstrap, specs=(TopicSpec(topic, "claimed key", partitions=1),))

    async def run() -> tuple[list[bool], bool, bool]:
        producer = EventProducer(KafkaSettings(bootstrap=kafka_bootstrap))
        a, b = ClaimLog(producer, kafka_bootstrap, topic), ClaimLog(producer, kafka_bootstrap, topic)
        await a.start()
        await b.start()
        try:
            expires = time.time() + 600
            race = list(await asyncio.gather(a.claim("nonce-1", expires), b.claim("nonce-1", expires)))
            fresh = await a.claim("nonce-2", expires)
        finally:
            await a.stop()
            await b.stop()
        restarted = ClaimLog(producer, kafka_bootstrap, topic)
        await restarted.start()  # reads every claim before it serves
        try:
            again = await restarted.claim("nonce-1", time.time() + 600)
            known = restarted.claimed("nonce-2")
        finally:
            await restarted.stop()
            producer.close()
        return race, fresh and known, again

    race, fresh_and_known, again = asyncio.run(run())
    assert sorted(race) == [False, True]
    assert fresh_and_known
    assert again is False
