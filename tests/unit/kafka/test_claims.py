"""First claim wins across processes: two ClaimLogs over one claims topic agree on one winner per key, a
restarted one knows every earlier claim before it serves, and an unreachable producer grants nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import cast

import pytest
from confluent_kafka import KafkaError, Message, Producer

from pipeline.kafka.claims import ClaimLog, ClaimUnavailable
from pipeline.kafka.producer import Delivered, EventProducer

from .conftest import MockKafka

TOPIC = "claims"


class PartitionZeroProducer:
    """EventProducer.send on partition 0 of a real producer: the claims topic has one partition in production,
    while the mock cluster creates four (its partitioner would spread keys over them)."""

    def __init__(self, bootstrap: str) -> None:
        self._producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "log_level": 0})

    async def send(self, topic: str, value: bytes, key: bytes | str | None = None) -> Delivered:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Delivered] = loop.create_future()

        def report(err: KafkaError | None, msg: Message) -> None:
            result = err or Delivered(msg.topic() or topic, 0, msg.offset() or 0)
            loop.call_soon_threadsafe(done.set_exception if err else done.set_result, result)

        self._producer.produce(topic, value, key, partition=0, on_delivery=report)
        await asyncio.to_thread(self._producer.flush, 10)
        return await done


class FailingProducer:
    async def send(self, topic: str, value: bytes, key: bytes | str | None = None) -> Delivered:
        raise RuntimeError("broker down: secret-token-xyz")


@pytest.fixture
def claim_log(mock_kafka: MockKafka) -> Callable[[], AbstractAsyncContextManager[ClaimLog]]:
    @asynccontextmanager
    async def started() -> AsyncIterator[ClaimLog]:
        log = ClaimLog(cast(EventProducer, PartitionZeroProducer(mock_kafka.bootstrap)), mock_kafka.bootstrap,
                       TOPIC, poll_seconds=0.05)
        await log.start()
        try:
            yield log
        finally:
            await log.stop()
    return started


async def test_one_winner_per_key_across_two_processes(
        mock_kafka: MockKafka, claim_log: Callable[[], AbstractAsyncContextManager[ClaimLog]]) -> None:
    mock_kafka.produce(TOPIC, [(b"seed", b"{}")])  # the topic exists before the processes start, as in production
    async with claim_log() as a, claim_log() as b:
        expires = time.time() + 300
        results = await asyncio.gather(*(log.claim(f"sso/nonce-{i}", expires) for i in range(5) for log in (a, b)))
        for i in range(5):  # per key, exactly one of the two processes won
            assert sorted(results[2 * i:2 * i + 2]) == [False, True], i
        assert await a.claim("sso/nonce-0", expires) is False  # and a later claim never wins
        assert a.claimed("sso/nonce-4") and b.claimed("sso/nonce-4") and not a.claimed("sso/other")


async def test_a_restarted_process_knows_every_earlier_claim_before_serving(
        mock_kafka: MockKafka, claim_log: Callable[[], AbstractAsyncContextManager[ClaimLog]]) -> None:
    mock_kafka.produce(TOPIC, [(b"seed", b"not json")])  # unreadable records still mark their key as claimed
    async with claim_log() as first:
        assert await first.claim("sso/a", time.time() + 300) is True
    async with claim_log() as restarted:
        assert restarted.claimed("sso/a") and restarted.claimed("seed")
        assert await restarted.claim("sso/a", time.time() + 300) is False
        assert await restarted.claim("sso/b", time.time() + 300) is True


async def test_an_unwritable_claim_grants_nothing_and_names_no_detail(mock_kafka: MockKafka) -> None:
    mock_kafka.produce(TOPIC, [(b"seed", b"{}")])
    log = ClaimLog(cast(EventProducer, FailingProducer()), mock_kafka.bootstrap, TOPIC, poll_seconds=0.05)
    await log.start()
    try:
        with pytest.raises(ClaimUnavailable) as caught:
            await log.claim("sso/x", time.time() + 300)
        assert "secret-token-xyz" not in str(caught.value) and caught.value.__cause__ is None
        assert not log.claimed("sso/x")
    finally:
        await log.stop()
