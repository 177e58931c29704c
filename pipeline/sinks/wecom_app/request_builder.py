"""App requests: gettoken (corpsecret in the query) and message/send (access_token in the query)."""

from __future__ import annotations

from urllib.parse import urlencode

from pydantic import SecretStr

from pipeline.sinks.delivery.http import HttpRequest, json_bytes
from pipeline.sinks.wecom_app.encoder import AppMessage

JSON = {"Content-Type": "application/json; charset=utf-8"}


class AppRequestBuilder:
    def __init__(self, base_url: str, corp_id: str, secret: SecretStr) -> None:
        self._base = base_url.rstrip("/")
        self._corp_id = corp_id
        self._secret = secret

    def __repr__(self) -> str:
        return f"AppRequestBuilder(base_url={self._base!r}, corp_id={self._corp_id!r})"

    def gettoken(self) -> HttpRequest:
        query = urlencode({"corpid": self._corp_id, "corpsecret": self._secret.get_secret_value()})
        return HttpRequest("GET", f"{self._base}/cgi-bin/gettoken?{query}", b"", {}, label="gettoken")

    def send(self, message: AppMessage, token: str) -> HttpRequest:
        url = f"{self._base}/cgi-bin/message/send?{urlencode({'access_token': token})}"
        return HttpRequest("POST", url, json_bytes(message.body), JSON,
                           label=f"app part {message.index}/{message.total}")
