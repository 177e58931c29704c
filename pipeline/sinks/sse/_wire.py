"""Server-Sent Events framing (WHATWG HTML §9.2) for the server, and the matching line parser for clients."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson


def format_event(event: str, data: bytes, event_id: str | None = None) -> bytes:
    """One event block; `data` must be one line (orjson output is)."""
    head = f"id: {event_id}\nevent: {event}\n" if event_id is not None else f"event: {event}\n"
    return head.encode() + b"data: " + data + b"\n\n"


def format_position(event_id: str, comment: str | None = None) -> bytes:
    """A block without data: clients update their last event id and dispatch nothing."""
    prefix = f": {comment}\n" if comment else ""
    return f"{prefix}id: {event_id}\n\n".encode()


def format_comment(text: str) -> bytes:
    return f": {text}\n\n".encode()


def format_retry(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


@dataclass(frozen=True, slots=True)
class SseEvent:
    """A dispatched event: `id` is the last event id in effect when it was dispatched."""

    event: str
    data: str
    id: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


class SseParser:
    """Feed lines (without terminators); dispatched events come out. Tracks `last_event_id` (also set by
    blocks without data, which this server sends to move a client's position past filtered records) and
    the server's `retry` hint."""

    def __init__(self, last_event_id: str | None = None) -> None:
        self.last_event_id = last_event_id
        self.retry_ms: int | None = None
        self.comments = 0
        self._id: str | None = last_event_id
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Iterator[SseEvent]:
        if line == "":
            yield from self._dispatch()
            return
        if line.startswith(":"):
            self.comments += 1
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)

    def _dispatch(self) -> Iterator[SseEvent]:
        self.last_event_id = self._id
        event, data = self._event or "message", self._data
        self._event, self._data = "", []
        if data:
            yield SseEvent(event=event, data="\n".join(data), id=self.last_event_id)
