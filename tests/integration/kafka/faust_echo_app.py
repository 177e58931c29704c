"""A one-agent faust app run as a real worker subprocess by test_producer_faust.py.

Reads EXMAIL_TEST_IN, writes EXMAIL_TEST_OUT: value = {"key", "in_partition", "value"} so the test can check that
faust consumed every record from the partition murmur2 assigns its key to.
"""

from __future__ import annotations

import os
from typing import Any

import faust
import orjson

app = faust.App(
    os.environ["EXMAIL_TEST_APP_ID"],
    broker=f"kafka://{os.environ['EXMAIL_KAFKA_BOOTSTRAP']}",
    value_serializer="raw",
    key_serializer="raw",
    topic_partitions=4,
    topic_disable_leader=True,
    web_enabled=False,
    web_tables_enabled=False,
    broker_session_timeout=10.0,
    broker_heartbeat_interval=1.0,
    broker_rebalance_timeout=10.0,
    broker_commit_interval=0.5,
    consumer_auto_offset_reset="earliest",
    producer_compression_type="lz4",
)
source = app.topic(os.environ["EXMAIL_TEST_IN"], key_type=bytes, value_type=bytes, partitions=4)
sink = app.topic(os.environ["EXMAIL_TEST_OUT"], key_type=bytes, value_type=bytes, partitions=4)


@app.agent(source)
async def echo(stream: Any) -> None:
    async for event in stream.events():
        out = {"key": event.key.decode(), "in_partition": event.message.partition,
               "value": orjson.loads(event.value)}
        await sink.send(key=event.key, value=orjson.dumps(out))
