"""One robot send and its classification: errcode 0 delivered; -1/45009/45033 and 5xx/timeouts retried;
93000 (robot gone), 40008 and any unknown errcode dead-lettered."""

from __future__ import annotations

from pipeline.sinks.delivery.errors import AttemptResult
from pipeline.sinks.delivery.http import HttpClient, exchange
from pipeline.sinks.wecom_robot.encoder import RobotMessage
from pipeline.sinks.wecom_robot.errors import wecom_reply
from pipeline.sinks.wecom_robot.request_builder import RobotRequestBuilder


class RobotService:
    def __init__(self, client: HttpClient, builder: RobotRequestBuilder) -> None:
        self._client = client
        self._builder = builder

    async def send(self, message: RobotMessage) -> AttemptResult:
        reply = await exchange(self._client, self._builder.build(message))
        if isinstance(reply, AttemptResult):
            return reply
        return wecom_reply(reply.status, reply.body)

