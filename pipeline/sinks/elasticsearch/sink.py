"""Elasticsearch / OpenSearch `_bulk` sink: `create` with `_id` = event id, so a replay is a harmless 409.

Per item: 201 written; 409 (version conflict: the id exists) counts as a duplicate, i.e. success; 429, 5xx,
a blocked index or a missing index are retried for the failed items only; any other 4xx (mapping errors)
goes to the dead-letter queue with Elasticsearch's reason. Whole-request failures: transport errors, 401/403,
408, 429 and 5xx are retried; 413 splits the batch in halves; other statuses dead-letter the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson

from pipeline.envelope import Envelope
from pipeline.secrets import resolve_secret
from pipeline.sinks._batching import BatchOutcome, RetriableSinkError
from pipeline.sinks.elasticsearch.config import ElasticsearchSinkConfig

_RETRY_ERROR_TYPES = {"cluster_block_exception", "index_not_found_exception", "es_rejected_execution_exception",
                      "circuit_breaking_exception", "unavailable_shards_exception"}
_FILTER_PATH = "errors,items.*.status,items.*.error.type,items.*.error.reason"


class BulkRequestError(RuntimeError):
    """The cluster refused the whole request in a way retrying will not fix."""


def document(envelope: Envelope) -> dict[str, Any]:
    """The indexed document: the ECS document, with `@timestamp` and `event.id` filled in when absent."""
    doc = dict(envelope.data)
    doc.setdefault("@timestamp", envelope.occurred_at)
    event = doc.get("event")
    if event is None or isinstance(event, dict):
        doc["event"] = {**(event or {}), "id": (event or {}).get("id", envelope.id)}
    return doc


def bulk_body(envelopes: list[Envelope], index: str) -> bytes:
    """NDJSON: a `create` action line and a source line per record, ending with a newline."""
    parts: list[bytes] = []
    for env in envelopes:
        parts.append(orjson.dumps({"create": {"_index": index, "_id": env.id}}))
        parts.append(orjson.dumps(document(env)))
    return b"\n".join(parts) + b"\n"


class ElasticsearchSink:
    """One bulk request per batch over a pooled httpx client."""

    def __init__(self, config: ElasticsearchSinkConfig, *, name: str = "elasticsearch",
                 resolve: Callable[[str], str] = resolve_secret,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.config = config
        headers = {"Content-Type": "application/x-ndjson", "Accept": "application/json"}
        auth: httpx.Auth | None = None
        if config.api_key is not None:
            headers["Authorization"] = f"ApiKey {resolve(config.api_key)}"
        elif config.username is not None and config.password is not None:
            auth = httpx.BasicAuth(config.username, resolve(config.password))
        self._client = httpx.AsyncClient(
            base_url=config.url.rstrip("/"), headers=headers, auth=auth, timeout=config.timeout_seconds,
            verify=config.tls(), transport=transport)
        self._params = {"filter_path": _FILTER_PATH, **({"pipeline": config.pipeline} if config.pipeline else {})}

    def __repr__(self) -> str:
        return f"ElasticsearchSink(name={self.name!r}, url={self.config.url!r}, index={self.config.index!r})"

    @staticmethod
    def size_of(envelope: Envelope) -> int:
        return len(envelope.encode()) + 96

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, batch: list[Envelope]) -> BatchOutcome[Envelope]:
        dest = f"elasticsearch {self.config.url}"
        try:
            resp = await self._client.post("/_bulk", content=bulk_body(batch, self.config.index),
                                           params=self._params)
        except httpx.TransportError as exc:
            reason = "timeout" if isinstance(exc, httpx.TimeoutException) else "connect"
            raise RetriableSinkError(f"{dest}: {type(exc).__name__}: {exc}", reason=reason) from None
        status = resp.status_code
        if status == 413:
            return await self._split(batch)
        if status in (401, 403, 408, 429) or status >= 500:
            reason = "auth" if status in (401, 403) else "throttled" if status == 429 else f"http_{status}"
            raise RetriableSinkError(f"{dest}: HTTP {status}: {resp.text[:300]}", reason=reason)
        if status != 200:
            raise BulkRequestError(f"{dest}: HTTP {status}: {resp.text[:500]}")
        try:
            body = orjson.loads(resp.content)
            items, errors = body.get("items"), body.get("errors")
        except (orjson.JSONDecodeError, AttributeError):
            raise RetriableSinkError(f"{dest}: unreadable bulk response", reason="bad_response") from None
        if items is None and not errors:
            return BatchOutcome()
        if not isinstance(items, list) or len(items) != len(batch):
            raise RetriableSinkError(f"{dest}: bulk response has {len(items) if isinstance(items, list) else '?'}"
                                     f" items for {len(batch)} actions", reason="bad_response")
        return self._outcome(batch, items)

    @staticmethod
    def _outcome(batch: list[Envelope], items: list[Any]) -> BatchOutcome[Envelope]:
        outcome: BatchOutcome[Envelope] = BatchOutcome()
        retry_reasons: set[str] = set()
        for env, item in zip(batch, items, strict=True):
            result: Any = next(iter(item.values()), {}) if isinstance(item, dict) and item else {}
            status = result.get("status") if isinstance(result, dict) else None
            error = result.get("error") if isinstance(result, dict) else None
            etype = error.get("type", "") if isinstance(error, dict) else ""
            ereason = error.get("reason", "") if isinstance(error, dict) else str(error or "")
            if not isinstance(status, int):
                outcome.retry.append(env)
                retry_reasons.add("bad_item")
            elif status < 300:
                continue
            elif status == 409:
                outcome.duplicates += 1
            elif status == 429 or status >= 500 or etype in _RETRY_ERROR_TYPES:
                outcome.retry.append(env)
                retry_reasons.add(f"item_{status}")
            else:
                outcome.rejected.append((env, f"elasticsearch {status} {etype}: {ereason}"[:1000]))
        outcome.retry_reason = ",".join(sorted(retry_reasons)) or "partial"
        return outcome

    async def _split(self, batch: list[Envelope]) -> BatchOutcome[Envelope]:
        if len(batch) == 1:
            return BatchOutcome(rejected=[(batch[0], "elasticsearch 413: document larger than the cluster's"
                                                     " http.max_content_length")])
        half = len(batch) // 2
        first, second = await self.send(batch[:half]), await self.send(batch[half:])
        return BatchOutcome(duplicates=first.duplicates + second.duplicates, retry=first.retry + second.retry,
                            retry_reason=first.retry_reason if first.retry else second.retry_reason,
                            rejected=first.rejected + second.rejected)
