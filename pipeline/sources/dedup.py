"""The seen-set: fingerprints a poller has already delivered, per open log date.

Each record id is a 128-bit fingerprint (32 hex chars); it is held as its 16 raw bytes. A `DigestSet` keeps
most digests packed in one sorted `bytes` blob (16 bytes per record) with a sorted `array` of each digest's
first 2 bytes beside it (2 bytes per record), and only the newest ones in a small Python set, merged into the
blob when that set grows past an eighth of the blob (a poll run's own digests: once, after the run). A lookup
is a C-level binary search of the 2-byte heads (`bisect` over an `array` never calls back into Python) and
one `bytes.find` over the digests sharing that head, a fraction of the cost of bisecting the blob through a
Python sequence view; the state stays near 18 bytes per record instead of the ~90 a `set[bytes]` costs.

The seen-set is never the source of truth: on start it is rebuilt from the poller's own output topic (see
`rebuild_seen` in `pipeline.sources.cursor`), so it only has to hold the dates that are still open.
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator
from datetime import date
from typing import Literal

DIGEST_BYTES = 16
_MIN_MERGE = 1024
_RUN = 32
_HEAD: Literal["H"] = "H"  # unsigned 16-bit
_SWAP = sys.byteorder == "little"  # heads are compared as big-endian numbers, i.e. in the blob's byte order


def digest_of(record_id: str) -> bytes:
    """The 16 raw bytes of a 32-hex-char envelope id."""
    raw = bytes.fromhex(record_id)
    if len(raw) != DIGEST_BYTES:
        raise ValueError(f"record id must be {DIGEST_BYTES * 2} hex characters")
    return raw


def _heads(blob: bytes) -> array[int]:
    """The first 2 bytes of every digest of a sorted blob, as big-endian numbers (sorted too), built in C."""
    heads = array(_HEAD)
    heads.frombytes(memoryview(blob).cast(_HEAD)[:: DIGEST_BYTES // 2].tobytes())
    if _SWAP:
        heads.byteswap()
    return heads


class DigestSet:
    """A set of 16-byte digests: packed sorted blob (+ its 4-byte heads) + a small set of recent additions."""

    __slots__ = ("_blob", "_heads", "_recent")

    def __init__(self, digests: Iterable[bytes] = ()) -> None:
        self._blob = b""
        self._heads: array[int] = array(_HEAD)
        self._recent: set[bytes] = set()
        for d in digests:
            self.add(d)

    def __len__(self) -> int:
        return len(self._heads) + len(self._recent)

    def __contains__(self, digest: object) -> bool:
        if digest in self._recent:
            return True
        heads = self._heads
        if not heads or not isinstance(digest, bytes | bytearray) or len(digest) != DIGEST_BYTES:
            return False
        head = digest[0] << 8 | digest[1]
        first = bisect_left(heads, head)
        n = len(heads)
        if first == n or heads[first] != head:
            return False
        last = first + _RUN  # about len(self) / 65536 digests share a head: look a bounded run ahead first
        last = bisect_right(heads, head, first) if last >= n or heads[last] == head else last
        end = last * DIGEST_BYTES
        blob = self._blob
        at = blob.find(digest, first * DIGEST_BYTES, end)
        while at > 0 and at % DIGEST_BYTES:  # a match straddling two digests is not one
            at = blob.find(digest, at + 1, end)
        return at >= 0

    def __iter__(self) -> Iterator[bytes]:
        blob = self._blob
        yield from (blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES))
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
        if len(self._recent) >= max(_MIN_MERGE, len(self._heads) // 8):
            self.compact()

    def insert_many(self, digests: Collection[bytes]) -> None:
        """Add digests known to be absent without merging: a poll run adds its rounds' digests here and calls
        `settle()` once at its end (a merge re-slices the whole blob; merging after every round of a large run
        was a sixth of the run's CPU)."""
        if any(n != DIGEST_BYTES for n in set(map(len, digests))):
            raise ValueError(f"digests must be {DIGEST_BYTES} bytes")
        self._recent.update(map(bytes, digests))

    def settle(self) -> None:
        """Merge the recent additions if they have grown past the merge threshold."""
        if len(self._recent) >= max(_MIN_MERGE, len(self._heads) // 8):
            self.compact()

    def compact(self) -> None:
        """Merge the recent additions into the packed blob."""
        if not self._recent:
            return
        blob = self._blob
        merged = [blob[i : i + DIGEST_BYTES] for i in range(0, len(blob), DIGEST_BYTES)]
        merged.extend(sorted(self._recent))
        merged.sort()  # two sorted runs: timsort merges them in linear time
        self._blob = b"".join(merged)
        self._heads = _heads(self._blob)
        self._recent = set()

    def nbytes(self) -> int:
        """Approximate heap bytes held (blob, heads, recent set and its bytes objects)."""
        recent = sys.getsizeof(self._recent) + sum(sys.getsizeof(d) for d in self._recent)
        return sys.getsizeof(self._blob) + sys.getsizeof(self._heads) + recent


class SeenSet:
    """Per-date DigestSets of one stream. Lookups check every held date, so a record whose date a later run
    assigns differently (e.g. a record near midnight) is still recognised."""

    __slots__ = ("_dates",)

    def __init__(self) -> None:
        self._dates: dict[date, DigestSet] = {}

    def __contains__(self, digest: object) -> bool:
        for s in self._dates.values():  # noqa: SIM110 (one or two open dates: a loop costs less than any())
            if digest in s:
                return True
        return False

    def __len__(self) -> int:
        return sum(len(s) for s in self._dates.values())

    def add(self, day: date, digest: bytes) -> bool:
        if len(digest) != DIGEST_BYTES:
            raise ValueError(f"digest must be {DIGEST_BYTES} bytes")
        if digest in self:
            return False
        self._dates.setdefault(day, DigestSet()).insert(digest)
        return True

    def insert_new(self, day: date, digests: Collection[bytes]) -> None:
        """Add digests the caller looked up as absent before it delivered their records (a poll run's ids
        are distinct: identical records get distinct occurrences), without looking each up again."""
        target = self._dates.get(day)
        if target is None:
            target = self._dates[day] = DigestSet()
        target.insert_many(digests)

    def settle(self) -> None:
        """Merge each date's recent additions where they are due (after a poll run's `insert_new`s)."""
        for s in self._dates.values():
            s.settle()

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
