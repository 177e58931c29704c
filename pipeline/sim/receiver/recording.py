"""What every simulated destination shares: a Recorder of accepted/rejected/dropped messages, a queue of
injected faults, sliding-window rate limits and the JSON admin routes.

Admin routes (relative to where the app is mounted, e.g. /wecom/_sim/received):
    GET    _sim/received?channel=&target=&outcome=   recorded messages, oldest first
    POST   _sim/faults      a fault object or a list of them (see `Fault`)
    GET    _sim/faults      pending faults
    DELETE _sim/faults      drop pending faults
    POST   _sim/reset       forget recorded messages, pending faults and rate-limit windows
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pipeline.secrets import REDACTED, scrub_text

SimClock = Callable[[], float]
Outcome = Literal["accepted", "rejected", "dropped", "deduplicated"]


@dataclass(slots=True)
class Received:
    seq: int
    at: float
    channel: str
    target: str
    outcome: Outcome
    status: int = 200
    errcode: int | None = None
    detail: str = ""
    body: Any = None
    recipients: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at": self.at, "channel": self.channel, "target": self.target,
                "outcome": self.outcome, "status": self.status, "errcode": self.errcode, "detail": self.detail,
                "body": self.body, "recipients": list(self.recipients), "headers": self.headers}


class Recorder:
    """Everything a simulated destination saw, with the simulator clock's timestamps (unix seconds).
    Targets are configured names (robot name, agent id, path), never keys."""

    def __init__(self, clock: SimClock, limit: int = 50_000) -> None:
        self.clock = clock
        self.entries: deque[Received] = deque(maxlen=limit)
        self._seq = itertools.count(1)
        self._changed = asyncio.Event()

    def record(self, channel: str, target: str, outcome: Outcome, **fields: Any) -> Received:
        entry = Received(next(self._seq), self.clock(), channel, target, outcome, **fields)
        self.entries.append(entry)
        self._changed.set()
        self._changed = asyncio.Event()
        return entry

    def select(self, channel: str | None = None, target: str | None = None,
               outcome: str | None = None) -> list[Received]:
        return [e for e in self.entries if (channel is None or e.channel == channel)
                and (target is None or e.target == target) and (outcome is None or e.outcome == outcome)]

    def accepted(self, channel: str | None = None, target: str | None = None) -> list[Received]:
        return self.select(channel, target, "accepted")

    def rejected(self, channel: str | None = None, target: str | None = None) -> list[Received]:
        return self.select(channel, target, "rejected")

    def dropped(self, channel: str | None = None, target: str | None = None) -> list[Received]:
        return self.select(channel, target, "dropped")

    def deduplicated(self, channel: str | None = None, target: str | None = None) -> list[Received]:
        return self.select(channel, target, "deduplicated")

    def clear(self) -> None:
        self.entries.clear()

    async def wait_for(self, predicate: Callable[[Recorder], bool]) -> None:
        """Wait until `predicate(self)` holds (wrap in asyncio.timeout); for tests of asynchronous senders."""
        while not predicate(self):
            await self._changed.wait()

    def to_json(self, channel: str | None = None, target: str | None = None,
                outcome: str | None = None) -> dict[str, Any]:
        rows = self.select(channel, target, outcome)
        counts: dict[str, int] = {}
        for e in self.entries:
            counts[e.outcome] = counts.get(e.outcome, 0) + 1
        return {"count": len(rows), "totals": counts, "received": [e.to_dict() for e in rows]}


class Fault(BaseModel):
    """One injected fault, applied to the next `count` matching requests.

    kind: errcode (answer with `errcode`/`errmsg` in the destination's format), http_status (answer
    `status` with a plain body), delay (wait `seconds`, then handle normally), expire_tokens /
    revoke_tokens (WeCom: every issued token now answers 42001 / 40014; applied at once).
    endpoint: gettoken, message_send, robot_send, webhook, dingtalk, feishu or "*".
    target: robot name, agent id or receiver path, or "*".
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["errcode", "http_status", "delay", "expire_tokens", "revoke_tokens"]
    endpoint: str = "*"
    target: str = "*"
    count: int = Field(1, ge=1)
    errcode: int = -1
    errmsg: str = "system busy"
    status: int = Field(503, ge=100, le=599)
    seconds: float = Field(1.0, ge=0, le=600)

    def matches(self, endpoint: str, target: str) -> bool:
        return self.endpoint in ("*", endpoint) and self.target in ("*", target)


_FAULTS = TypeAdapter(Fault | list[Fault])


class FaultPlan:
    """Pending faults. `immediate` may act on a fault when it is added (e.g. expire every token) and
    return True to keep it out of the queue."""

    def __init__(self, immediate: Callable[[Fault], bool] | None = None) -> None:
        self.pending: list[Fault] = []
        self._immediate = immediate

    def add(self, *faults: Fault) -> None:
        for fault in faults:
            if self._immediate is None or not self._immediate(fault):
                self.pending.append(fault.model_copy())

    def clear(self) -> None:
        self.pending.clear()

    def _take(self, endpoint: str, target: str, kinds: tuple[str, ...]) -> Fault | None:
        for fault in self.pending:
            if fault.kind in kinds and fault.matches(endpoint, target):
                fault.count -= 1
                if fault.count <= 0:
                    self.pending.remove(fault)
                return fault
        return None

    async def before(self, endpoint: str, target: str) -> Fault | None:
        """Apply a pending delay to this request, then return the errcode/http_status fault to answer
        with, if any."""
        delay = self._take(endpoint, target, ("delay",))
        if delay is not None:
            await asyncio.sleep(delay.seconds)
        return self._take(endpoint, target, ("errcode", "http_status"))


class SlidingWindow:
    """At most `limit` events in any `window_s` seconds: counts events in (now - window, now]."""

    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def _prune(self, now: float) -> None:
        while self._times and self._times[0] <= now - self.window_s:
            self._times.popleft()

    def allows(self, now: float) -> bool:
        self._prune(now)
        return len(self._times) < self.limit

    def add(self, now: float) -> None:
        self._times.append(now)


RECORDER_KEY = web.AppKey("sim_recorder", Recorder)
FAULTS_KEY = web.AppKey("sim_faults", FaultPlan)
CONFIG_KEY = web.AppKey("sim_config", BaseModel)  # the app's own config (robot keys, secrets: test values)


def json_response(obj: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def fault_http_response(fault: Fault) -> web.Response:
    return web.Response(status=fault.status, text=f"simulated HTTP {fault.status}")


async def read_json(request: web.Request) -> tuple[bytes, Any]:
    """(raw body, parsed JSON or None when it does not parse)."""
    raw = await request.read()
    try:
        return raw, orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return raw, None


def add_admin_routes(app: web.Application, on_reset: Callable[[], None] | None = None) -> None:
    """Mount the _sim/ admin routes (the app must hold RECORDER_KEY and FAULTS_KEY)."""

    async def received(request: web.Request) -> web.Response:
        q = request.query
        return json_response(app[RECORDER_KEY].to_json(q.get("channel"), q.get("target"), q.get("outcome")))

    async def add_faults(request: web.Request) -> web.Response:
        try:
            parsed = _FAULTS.validate_json(await request.read())
        except ValidationError as exc:
            return json_response({"error": "invalid fault", "details": exc.errors(include_url=False)}, 400)
        app[FAULTS_KEY].add(*(parsed if isinstance(parsed, list) else [parsed]))
        return json_response({"pending": [f.model_dump() for f in app[FAULTS_KEY].pending]})

    async def list_faults(request: web.Request) -> web.Response:
        return json_response({"pending": [f.model_dump() for f in app[FAULTS_KEY].pending]})

    async def clear_faults(request: web.Request) -> web.Response:
        app[FAULTS_KEY].clear()
        return json_response({"pending": []})

    async def reset(request: web.Request) -> web.Response:
        app[RECORDER_KEY].clear()
        app[FAULTS_KEY].clear()
        if on_reset is not None:
            on_reset()
        return json_response({"reset": True})

    app.router.add_get("/_sim/received", received)
    app.router.add_post("/_sim/faults", add_faults)
    app.router.add_get("/_sim/faults", list_faults)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_post("/_sim/reset", reset)


_HOOK_TOKEN = re.compile(r"(/hook/)[^/?\s]+")


class ScrubbingAccessLogger(AbstractAccessLogger):
    """aiohttp access log without credentials (robot keys, tokens, signatures in query strings, Feishu hook
    tokens in paths): pass `access_log_class=ScrubbingAccessLogger` to web.AppRunner / TestServer."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        target = scrub_text(_HOOK_TOKEN.sub(rf"\g<1>{REDACTED}", request.path_qs))
        self.logger.info('%s "%s %s" %d %.3fs', request.remote, request.method, target, response.status, time)
