"""One Feishu robot send: code 0 delivered; 11232 (frequency limited) and 5xx/timeouts retried; 19021 (sign),
19024 (keyword), 19036 (too large), 19001 and unknown codes dead-lettered."""

from __future__ import annotations

from typing import Any

from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.http import HttpClient, exchange
from pipeline.sinks.feishu.errors import feishu_reply
from pipeline.sinks.feishu.request_builder import FeishuRequestBuilder


class FeishuService:
    def __init__(self, client: HttpClient, builder: FeishuRequestBuilder) -> None:
        self._client = client
        self._builder = builder

    async def send(self, body: dict[str, Any]) -> AttemptResult:
        reply = await exchange(self._client, self._builder.build(body))
        if isinstance(reply, AttemptResult):
            return reply
        return feishu_reply(reply.status, reply.body)
