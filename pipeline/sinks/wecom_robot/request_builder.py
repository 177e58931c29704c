"""Robot message -> HTTP request. The key rides in the URL (the robot's only credential)."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import SecretStr

from pipeline.sinks.delivery.http import HttpRequest, json_bytes
from pipeline.sinks.wecom_robot.encoder import RobotMessage

JSON = {"Content-Type": "application/json; charset=utf-8"}


class RobotRequestBuilder:
    def __init__(self, base_url: str, key: SecretStr) -> None:
        self._base = base_url.rstrip("/")
        self._key = key

    def __repr__(self) -> str:
        return f"RobotRequestBuilder(base_url={self._base!r})"

    def build(self, message: RobotMessage) -> HttpRequest:
        url = f"{self._base}/cgi-bin/webhook/send?key={quote(self._key.get_secret_value(), safe='')}"
        return HttpRequest("POST", url, json_bytes(message.body), JSON,
                           label=f"robot part {message.index}/{message.total}")
