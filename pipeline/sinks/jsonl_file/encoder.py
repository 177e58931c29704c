"""One line of the feed: the event's ECS document (with its OCSF block) as compact JSON and a newline.

orjson escapes control characters inside strings, so a line never contains a raw newline and a tailer can
split on b"\\n" alone."""

from __future__ import annotations

import orjson

from pipeline.envelope import Envelope
from pipeline.sinks.elasticsearch import document  # the one ECS document every SIEM gets (@timestamp, event.id)


def encode_line(envelope: Envelope) -> bytes:
    return orjson.dumps(document(envelope)) + b"\n"
