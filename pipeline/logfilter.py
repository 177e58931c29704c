"""Connection-error logging at a readable rate: one line when a failure starts, a summary while it lasts.

While the broker is away, aiokafka logs "Unable connect to node ..." for every retry and librdkafka a
"Connect to ipv4#... failed" line per reconnect attempt per client: about a hundred lines a second from one
worker, which drowns the lines that matter. `limit_connection_logs()` puts one filter on the Kafka clients'
loggers; per kind of message (logger + message template, librdkafka's facility) the first line passes, repeats
are counted, and while they continue one line every `summary_seconds` passes with the count of the ones held
back. After `quiet_seconds` without that message a new occurrence is a new state and passes at once.
librdkafka's own lines reach Python logging (logger "librdkafka") when a client is configured with
`"logger": KAFKA_LOGGER` (see pipeline.kafka.producer and reader).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

KAFKA_LOGGER = logging.getLogger("librdkafka")
LIMITED_LOGGERS = ("librdkafka", "aiokafka", "aiokafka.client", "aiokafka.conn", "aiokafka.consumer.fetcher",
                   "aiokafka.consumer.group_coordinator", "aiokafka.consumer.consumer", "aiokafka.producer.sender",
                   "aiokafka.producer.producer", "faust.transport.drivers.aiokafka",
                   "pipeline.sources._intake",  # our own line per refused push while the broker is away
                   "pipeline.kafka.batch")  # the batch consumers' error_cb: a line per reconnect
_RDKAFKA_TEMPLATE = "%s [%s] %s"  # how confluent-kafka hands librdkafka's (facility, client, message) to logging


@dataclass(slots=True)
class _Burst:
    window_start: float
    last_seen: float
    held: int = 0


class ConnectionLogLimiter(logging.Filter):
    def __init__(self, summary_seconds: float = 60.0, quiet_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._summary = summary_seconds
        self._quiet = quiet_seconds
        self._clock = clock
        self._bursts: dict[tuple[str, str, str], _Burst] = {}
        self._lock = threading.Lock()  # librdkafka lines arrive on client threads

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        kind = ""
        if record.msg == _RDKAFKA_TEMPLATE and isinstance(record.args, tuple) and record.args:
            kind = str(record.args[0])
        key = (record.name, str(record.msg), kind)
        now = self._clock()
        with self._lock:
            burst = self._bursts.get(key)
            if burst is None or now - burst.last_seen > self._quiet:
                held = burst.held if burst is not None else 0
                self._bursts[key] = _Burst(now, now)
                if held:
                    _annotate(record, f"({held} similar lines were held back before this one)")
                return True
            burst.last_seen = now
            if now - burst.window_start < self._summary:
                burst.held += 1
                return False
            held, burst.held, burst.window_start = burst.held, 0, now
        if held:
            _annotate(record, f"(still failing: {held} similar lines held back in the last {self._summary:.0f} s)")
        return True


def _annotate(record: logging.LogRecord, note: str) -> None:
    record.msg = f"{record.getMessage()} {note}"
    record.args = ()  # empty, not None: mode's formatter turns None into (None,) and formatting then fails


_INSTALLED: list[ConnectionLogLimiter] = []


def limit_connection_logs(summary_seconds: float = 60.0, quiet_seconds: float = 30.0) -> ConnectionLogLimiter:
    """Install the limiter on the Kafka clients' loggers (once per process)."""
    if _INSTALLED:
        return _INSTALLED[0]
    limiter = ConnectionLogLimiter(summary_seconds, quiet_seconds)
    for name in LIMITED_LOGGERS:
        logging.getLogger(name).addFilter(limiter)
    _INSTALLED.append(limiter)
    return limiter
