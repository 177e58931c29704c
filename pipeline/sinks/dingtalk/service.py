"""One DingTalk robot send: errcode 0 delivered; 130101/410100 (too fast), -1 and 5xx/timeouts retried;
310000 (sign/keyword/IP), 300001 (no such robot), 460101 (too long) and unknown errcodes dead-lettered."""

from __future__ import annotations

from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.http import HttpClient, exchange
from pipeline.sinks.dingtalk.errors import dingtalk_reply
from pipeline.sinks.dingtalk.request_builder import DingTalkRequestBuilder


class DingTalkService:
    def __init__(self, client: HttpClient, builder: DingTalkRequestBuilder) -> None:
        self._client = client
        self._builder = builder

    async def send(self, body: bytes) -> AttemptResult:
        reply = await exchange(self._client, self._builder.build(body))
        if isinstance(reply, AttemptResult):
            return reply
        return dingtalk_reply(reply.status, reply.body)
