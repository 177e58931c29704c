"""UTF-8-aware splitting and truncation for destinations that limit content by bytes (WeCom text 2048,
markdown 4096; DingTalk and Feishu bodies ~20 KB).

Splitting prefers line boundaries, then whitespace, and only then cuts between two characters; it never
cuts inside a UTF-8 sequence. Each part carries a marker "(i/n)" and stays within the limit with it. The
parts' `chunk`s concatenate back to the input exactly (unless `max_parts` forced a truncation).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MARKER = "({index}/{total})\n"


@dataclass(slots=True, frozen=True)
class Part:
    index: int
    total: int
    chunk: str
    text: str
    truncated: bool = False


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(data: bytes, limit: int) -> int:
    """The largest cut position <= limit that does not fall inside a UTF-8 sequence."""
    if limit >= len(data):
        return len(data)
    cut = limit
    while cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut


def truncate_utf8(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """`text` if it fits in `limit` bytes, else its longest prefix that fits together with `ellipsis`."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - utf8_len(ellipsis)
    if room <= 0:
        return data[: _cut(data, limit)].decode("utf-8")
    return data[: _cut(data, room)].decode("utf-8") + ellipsis


def _lines(text: str) -> list[str]:
    """Lines with their line breaks kept, so "".join() gives `text` back."""
    out = text.split("\n")
    return [line + "\n" for line in out[:-1]] + ([out[-1]] if out[-1] else [])


def _split_line(line: str, budget: int) -> list[str]:
    """Break one over-long line: at the last whitespace in the second half of the window, else between
    two characters."""
    pieces: list[str] = []
    data = line.encode("utf-8")
    while len(data) > budget:
        cut = _cut(data, budget)
        space = max(data.rfind(b" ", 0, cut), data.rfind(b"\t", 0, cut))
        if space >= budget // 2:
            cut = space + 1
        if cut == 0:
            raise ValueError(f"a byte budget of {budget} cannot hold one character")
        pieces.append(data[:cut].decode("utf-8"))
        data = data[cut:]
    if data:
        pieces.append(data.decode("utf-8"))
    return pieces


def chunk_utf8(text: str, budget: int) -> list[str]:
    """Greedy packing of whole lines into chunks of at most `budget` bytes; "".join(result) == text."""
    if budget < 4:
        raise ValueError(f"a byte budget must be at least 4 (one UTF-8 character), got {budget}")
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in _lines(text):
        n = utf8_len(line)
        if size + n <= budget:
            current.append(line)
            size += n
            continue
        if current:
            chunks.append("".join(current))
            current, size = [], 0
        if n <= budget:
            current, size = [line], n
        else:
            *full, rest = _split_line(line, budget)
            chunks.extend(full)
            current, size = [rest], utf8_len(rest)
    if current:
        chunks.append("".join(current))
    return chunks


def split_utf8(text: str, limit: int, *, marker: str = DEFAULT_MARKER, max_parts: int | None = None,
               truncation_note: str = "\n…") -> list[Part]:
    """Split `text` into parts of at most `limit` bytes each, markers included. One part, unmarked, when it
    fits. Past `max_parts`, the last part is truncated and ends with `truncation_note`."""
    if utf8_len(text) <= limit:
        return [Part(1, 1, text, text)]
    guess = 2
    while True:
        budget = limit - utf8_len(marker.format(index=guess, total=guess))
        chunks = chunk_utf8(text, budget)
        if len(str(len(chunks))) <= len(str(guess)):
            break
        guess = len(chunks)
    if max_parts is not None and len(chunks) > max_parts:
        return _truncated(text, chunks, limit, marker, max_parts, truncation_note)
    total = len(chunks)
    return [Part(i, total, c, marker.format(index=i, total=total) + c) for i, c in enumerate(chunks, 1)]


def _prefix_within(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    return data[: _cut(data, max(0, limit))].decode("utf-8")


def _truncated(text: str, chunks: list[str], limit: int, marker: str, max_parts: int, note: str) -> list[Part]:
    if max_parts == 1:
        prefix = _prefix_within(text, limit - utf8_len(note))
        return [Part(1, 1, prefix, prefix + note, truncated=True)]
    kept = chunks[: max_parts - 1]
    head = marker.format(index=max_parts, total=max_parts)
    prefix = _prefix_within(text[sum(len(c) for c in kept):], limit - utf8_len(head) - utf8_len(note))
    parts = [Part(i, max_parts, c, marker.format(index=i, total=max_parts) + c) for i, c in enumerate(kept, 1)]
    parts.append(Part(max_parts, max_parts, prefix, head + prefix + note, truncated=True))
    return parts


def split_to_fit(text: str, limit: int, build: Callable[[Part], bytes], *, max_parts: int | None = None,
                 marker: str = DEFAULT_MARKER) -> list[Part]:
    """Split `text` so that every encoded body `build(part)` is at most `limit` bytes, for destinations
    that limit the whole request body (DingTalk ~20000 bytes, Feishu 20 KB) rather than the content: the
    envelope and JSON escaping are measured, and the content budget shrinks until every body fits."""
    overhead = len(build(Part(1, 1, "", "")))
    budget = limit - overhead
    for _ in range(16):
        if budget < 64:
            break
        parts = split_utf8(text, budget, marker=marker, max_parts=max_parts)
        excess = max(len(build(p)) for p in parts) - limit
        if excess <= 0:
            return parts
        budget -= max(excess, 16)
    raise ValueError(f"cannot fit the message into bodies of {limit} bytes")
