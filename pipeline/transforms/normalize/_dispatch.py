"""raw envelope -> exmail.events envelope: pick the mapper by schema, enrich, wrap."""

from __future__ import annotations

import pkgutil
from collections.abc import Callable
from typing import Any

from pipeline import streams
from pipeline.envelope import Envelope, record_key
from pipeline.records import EVENT_SCHEMA
from pipeline.transforms.normalize._common import NormalizeError
from pipeline.transforms.normalize._enrich import DirectoryLookup, enrich

Mapper = Callable[[Envelope], dict[str, Any]]


def _mapper(stream: streams.Stream) -> Mapper:
    """The catalog names each kind's mapper as "module:function"; resolved once, when this module loads (the
    arrow normalize -> mapper module is in the catalog, not in an import line here)."""
    assert stream.mapper is not None
    mapper: Mapper = pkgutil.resolve_name(stream.mapper)
    return mapper


# envelope schema -> mapper, for every catalog kind that has one
MAPPERS: dict[str, Mapper] = {s.schema: _mapper(s) for s in streams.catalog().values() if s.mapper is not None}

_UNEXPECTED = (TypeError, ValueError, KeyError, AttributeError, OverflowError)


def normalize(raw: Envelope, directory: DirectoryLookup | None = None) -> Envelope:
    """The normalized event of one raw record: same id, corp_id, source, observed_at and occurred_at, data =
    the ECS + OCSF document. Deterministic for a given record and directory state.

    Raises NormalizeError (reason prefixed with the raw schema) for records that are structurally invalid;
    enum values the API documentation does not list are not errors (they map to "unknown").
    """
    mapper = MAPPERS.get(raw.schema)
    if mapper is None:
        raise NormalizeError(f"unknown schema {raw.schema[:100]!r}; known: {', '.join(sorted(MAPPERS))}")
    try:
        doc = mapper(raw)
    except NormalizeError as exc:
        raise NormalizeError(f"{raw.schema}: {exc.reason}") from None
    except _UNEXPECTED as exc:
        raise NormalizeError(f"{raw.schema}: cannot normalize ({type(exc).__name__})") from exc
    if directory is not None:
        enrich(doc, raw.corp_id, directory)
    return Envelope(
        schema=EVENT_SCHEMA,
        id=raw.id,
        corp_id=raw.corp_id,
        source=raw.source,
        occurred_at=raw.occurred_at,
        observed_at=raw.observed_at,
        data=doc,
    )


def event_key(event: Envelope) -> bytes:
    """Kafka key on exmail.events: corp_id/<subject user>, else the group, domain or stream the event is about."""
    doc = event.data
    exmail = doc.get("exmail", {})
    subject = (
        (doc.get("user") or {}).get("id")
        or (doc.get("group") or {}).get("id")
        or (exmail.get("mail_status") or {}).get("domain")
        or (exmail.get("pipeline_error") or {}).get("stream")
        or ""
    )
    return record_key(event.corp_id, subject)
