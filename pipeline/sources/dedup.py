"""The seen-set: fingerprints a poller has already delivered, per open log date.

Each record id is a 128-bit fingerprint (32 hex chars); it is held as its 16 raw bytes. A `DigestSet` keeps
most digests packed in one sorted `bytes` blob (16 bytes per record, binary search) and only the newest ones in
a small Python set, merged into the blob when that set grows past an eighth of the blob. That keeps the steady
state near 16 bytes per record instead of the ~90 a `set[bytes]` costs.

The seen-set is never the source of truth: on start it is rebuilt from the poller's own output topic (see
`rebuild_seen` in `pipeline.sources.cursor`), so it only has to hold the dates that are still open.
"""

from __future__ import annotations

import sys
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from datetime import date

DIGEST_BYTES = 16
_MIN_MERGE = 1024


def digest_of(record_id: str) -> bytes:
    """The 16 raw bytes of a 32-hex-char envelope id."""
    raw = bytes.fromhex(record_id)
    if len(raw) != DIGEST_BYTES:
        raise ValueError(f"record id must be {DIGEST_BYTES * 2} hex characters")
    return raw


class _Packed:
    """Read-only sequence view of a sorted blob of fixed-size digests (what bisect needs)."""

    __slots__ = ("blob",)

    def __init__(self, blob: bytes) -> None:
        self.blob = blob

    def __len__(self) -> int:
        return len(self.blob) // DIGEST_BYTES

    def __getitem__(self, index: int) -> bytes:
        start = index * DIGEST_BYTES
        return self.blob[start : start + DIGEST_BYTES]

    def __iter__(self) -> Iterator[bytes]:
        blob = self.blob
        return (blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES))


class DigestSet:
    """A set of 16-byte digests: packed sorted blob + a small set of recent additions."""

    __slots__ = ("_packed", "_recent")

    def __init__(self, digests: Iterable[bytes] = ()) -> None:
        self._packed = _Packed(b"")
        self._recent: set[bytes] = set()
        for d in digests:
            self.add(d)

    def __len__(self) -> int:
        return len(self._packed) + len(self._recent)

    def __contains__(self, digest: object) -> bool:
        if digest in self._recent:
            return True
        if not isinstance(digest, bytes | bytearray) or len(digest) != DIGEST_BYTES:
            return False
        packed = self._packed
        i = bisect_left(packed, digest)
        return i < len(packed) and packed[i] == digest

    def __iter__(self) -> Iterator[bytes]:
        yield from self._packed
        yield from self._recent

    def add(self, digest: bytes) -> bool:
        """Add `digest`; False when it was already present."""
        if len(digest) != DIGEST_BYTES:
            raise ValueError(f"digest must be {DIGEST_BYTES} bytes")
        if digest in self:
            return False
        self.insert(digest)
        return True

    def insert(self, digest: bytes) -> None:
        """Add a digest known to be absent (the caller checked)."""
        self._recent.add(bytes(digest))
        if len(self._recent) >= max(_MIN_MERGE, len(self._packed) // 8):
            self.compact()

    def compact(self) -> None:
        """Merge the recent additions into the packed blob."""
        if not self._recent:
            return
        blob = self._packed.blob
        merged = [blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES)]
        merged.extend(sorted(self._recent))
        merged.sort()  # two sorted runs: timsort merges them in linear time
        self._packed = _Packed(b"".join(merged))
        self._recent = set()

    def nbytes(self) -> int:
        """Approximate heap bytes held (blob + recent set and its bytes objects)."""
        recent = sys.getsizeof(self._recent) + sum(sys.getsizeof(d) for d in self._recent)
        return sys.getsizeof(self._packed.blob) + recent


class SeenSet:
    """Per-date DigestSets of one stream. Lookups check every held date, so a record whose date a later run
    assigns differently (e.g. a record near midnight) is still recognised."""

    __slots__ = ("_dates",)

    def __init__(self) -> None:
        self._dates: dict[date, DigestSet] = {}

    def __contains__(self, digest: object) -> bool:
        return any(digest in s for s in self._dates.values())

    def __len__(self) -> int:
        return sum(len(s) for s in self._dates.values())

    def add(self, day: date, digest: bytes) -> bool:
        if len(digest) != DIGEST_BYTES:
            raise ValueError(f"digest must be {DIGEST_BYTES} bytes")
        if digest in self:
            return False
        self._dates.setdefault(day, DigestSet()).insert(digest)
        return True

    def dates(self) -> list[date]:
        return sorted(self._dates)

    def count(self, day: date) -> int:
        s = self._dates.get(day)
        return len(s) if s else 0

    def drop_through(self, day: date) -> int:
        """Forget every date up to and including `day` (they are closed); returns digests dropped."""
        dropped = 0
        for d in [d for d in self._dates if d <= day]:
            dropped += len(self._dates.pop(d))
        return dropped

    def compact(self) -> None:
        for s in self._dates.values():
            s.compact()

    def nbytes(self) -> int:
        return sys.getsizeof(self._dates) + sum(s.nbytes() for s in self._dates.values())
