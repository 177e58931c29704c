"""A scripted in-process Exmail (httpx.MockTransport handler), a fake clock, and a client factory wired to both.

The fake issues one token per gettoken, checks that each call carries a live token of the endpoint's app
(else 40014 / 602005), and answers each path from a queue of scripted responses (default: errcode 0).
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from pipeline.exmail import ENDPOINTS, App, AppSecrets, ExmailClient, ExmailSettings, RateLimit, RetrySettings

CORP_ID = "wm0123456789abcdef"
SECRETS = {app: f"SECRET-{app.value}-0123456789abcdefghijklmnopqrstuv" for app in App}
BASE_URL = "http://exmail.test/cgi-bin/"

Scripted = dict[str, Any] | int | Exception | Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeClock:
    """Monotonic time that only moves when someone sleeps (or a test advances it)."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeExmail:
    corp_id = CORP_ID
    secrets = SECRETS

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.tokens: dict[str, App] = {}
        self.issued: dict[App, int] = defaultdict(int)
        self.expires_in = 7200
        self.scripts: dict[str, deque[Scripted]] = defaultdict(deque)
        self.always: dict[str, Scripted] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.yields_per_call = 0

    # scripting
    def on(self, path: str, *responses: Scripted) -> None:
        """Answer the next calls to `path` with `responses`, in order."""
        self.scripts[path].extend(responses)

    def always_answer(self, path: str, response: Scripted) -> None:
        self.always[path] = response

    def expire_tokens(self) -> None:
        self.tokens.clear()

    # inspection
    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == "/cgi-bin/" + path]

    def last(self, path: str) -> httpx.Request:
        calls = self.calls(path)
        assert calls, f"no call to {path}"
        return calls[-1]

    def body(self, path: str) -> Any:
        """JSON body of the last call to `path`."""
        return orjson.loads(self.last(path).content)

    def params(self, path: str) -> dict[str, str]:
        """Query parameters of the last call to `path`, without access_token."""
        return {k: v for k, v in self.last(path).url.params.items() if k != "access_token"}

    def method(self, path: str) -> str:
        return self.last(path).method

    # transport
    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            for _ in range(self.yields_per_call):
                await asyncio.sleep(0)
            return self._answer(request)
        finally:
            self.in_flight -= 1

    def _answer(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/cgi-bin/")
        scripted = self._next_script(path)
        if scripted is not None:
            return _render(scripted, request)
        if path == "gettoken":
            return self._gettoken(request)
        endpoint = ENDPOINTS.get(path)
        if endpoint is None:
            return httpx.Response(404)
        token = request.url.params.get("access_token")
        if token not in self.tokens:
            return _json({"errcode": 40014, "errmsg": "invalid access_token"})
        if self.tokens[token] is not endpoint.app:
            return _json({"errcode": 602005, "errmsg": "no privilege to access this api"})
        return _json({"errcode": 0, "errmsg": "ok", **_DEFAULT_ANSWERS.get(path, {})})

    def _next_script(self, path: str) -> Scripted | None:
        queue = self.scripts.get(path)
        if queue:
            return queue.popleft()
        return self.always.get(path)

    def _gettoken(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        apps = [app for app, secret in SECRETS.items() if secret == params.get("corpsecret")]
        if params.get("corpid") != CORP_ID or not apps:
            return _json({"errcode": 40001, "errmsg": "invalid credential"})
        app = apps[0]
        self.issued[app] += 1
        token = f"TOKEN{app.value.upper()}{self.issued[app]:04d}" + "k" * 60
        self.tokens[token] = app
        return _json({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.expires_in})


# Minimal valid answers of endpoints whose response has required fields (for calls a test does not script).
_DEFAULT_ANSWERS: dict[str, dict[str, Any]] = {
    "mail/newcount": {"count": 0},
    "department/create": {"id": 2},
    "tag/create": {"tagid": 1},
    "user/get": {"userid": "someone@example.com"},
    "group/get": {"groupid": "group@example.com", "allow_type": 0},
    "service/get_login_url": {"login_url": "https://exmail.qq.com/cgi-bin/login?authkey=AK", "expires_in": 300},
}


def _json(payload: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(payload), headers={"Content-Type": "application/json"})


def _render(scripted: Scripted, request: httpx.Request) -> httpx.Response:
    if isinstance(scripted, Exception):
        raise scripted
    if isinstance(scripted, int):
        return httpx.Response(scripted, content=b"<html>error</html>")
    if isinstance(scripted, dict):
        return _json(scripted)
    return scripted(request)


def _settings(**overrides: Any) -> ExmailSettings:
    values: dict[str, Any] = {
        "corp_id": CORP_ID,
        "base_url": BASE_URL,
        "secrets": AppSecrets(**{app.value: secret for app, secret in SECRETS.items()}),
        "retry": RetrySettings(max_attempts=4, max_total_seconds=60, base_delay_seconds=1, max_delay_seconds=8),
        "corp_rate_limit": RateLimit(rate=1000, burst=1000),
        "app_rate_limit": RateLimit(rate=1000, burst=1000),
    }
    values.update(overrides)
    return ExmailSettings(**values)


@pytest.fixture
def settings_factory() -> Callable[..., ExmailSettings]:
    """Settings for the fake corp (all five secrets, generous rate limits); keyword overrides win."""
    return _settings


@pytest.fixture
def fake() -> FakeExmail:
    return FakeExmail()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


ClientFactory = Callable[..., ExmailClient]


@pytest.fixture
async def make_client(fake: FakeExmail, clock: FakeClock) -> AsyncIterator[ClientFactory]:
    created: list[ExmailClient] = []

    def factory(**overrides: Any) -> ExmailClient:
        client = ExmailClient(
            _settings(**overrides),
            transport=httpx.MockTransport(fake.handler),
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(7),
        )
        created.append(client)
        return client

    yield factory
    for client in created:
        await client.aclose()


@pytest.fixture
def client(make_client: ClientFactory) -> ExmailClient:
    return make_client()
