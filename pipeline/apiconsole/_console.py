"""The API console's logic, free of any CLI: the endpoint catalog (from pipeline/exmail/_endpoints.py), typed
parsing of `key=value` parameters, and one call that returns a structured, secret-free result. An operator
web console can serve `catalog()` and `call()` as they are."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

from pipeline.apiconsole._hints import explain
from pipeline.exmail import ENDPOINTS, App, Endpoint, ExmailClient, ExmailError, Param, TransportError
from pipeline.secrets import REDACTED, scrub


class ConsoleError(ValueError):
    """A request the console refuses before calling (unknown endpoint or parameter, bad value)."""


@dataclass(frozen=True, slots=True)
class ParamInfo:
    name: str
    type: str
    required: bool
    where: str
    doc: str


@dataclass(frozen=True, slots=True)
class EndpointInfo:
    path: str
    app: str
    method: str
    doc: str
    per_user: bool
    params: tuple[ParamInfo, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _info(ep: Endpoint) -> EndpointInfo:
    where = "query" if ep.method == "GET" else "body"
    return EndpointInfo(ep.path, ep.app.value, ep.method, ep.doc, ep.per_user,
                        tuple(ParamInfo(p.name, p.type, p.required, where, p.doc) for p in ep.params))


def catalog() -> list[EndpointInfo]:
    """Every endpoint the client knows, in the table's order."""
    return [_info(ep) for ep in ENDPOINTS.values()]


def endpoint(path: str) -> Endpoint:
    key = path.strip().strip("/").removeprefix("cgi-bin/")
    if key not in ENDPOINTS:
        close = [p for p in ENDPOINTS if key.split("/")[0] in p]
        raise ConsoleError(f"unknown endpoint {path!r}" + (f"; did you mean {', '.join(close)}?" if close else
                                                             " (`pipeline api list` shows them)"))
    return ENDPOINTS[key]


def _flag(text: str) -> int:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return 1
    if lowered in ("0", "false", "no", "off"):
        return 0
    raise ValueError("use 0 or 1")


def _list(text: str, item: Callable[[str], Any]) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        values = orjson.loads(text)
        if not isinstance(values, list):
            raise ValueError("expected a JSON array")
        return [item(str(v)) if not isinstance(v, int) or item is str else v for v in values]
    return [item(part.strip()) for part in text.split(",") if part.strip()]


def _convert(param: Param, text: str) -> Any:
    kind = param.type
    if kind in ("int", "int64"):
        return int(text.strip())
    if kind == "flag":
        return _flag(text)
    if kind == "str[]":
        return _list(text, str)
    if kind == "int64[]":
        return _list(text, int)
    if kind == "object[]":
        value = orjson.loads(text)
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ValueError('expected a JSON array of objects, e.g. [{"type": 1, "value": "1"}]')
        return value
    return text


def parse_params(ep: Endpoint, args: Iterable[str], *, check: bool = True) -> dict[str, Any]:
    """`key=value` (typed by the endpoint's parameter table) and `key:=JSON` (taken as is) into a dict.
    With `check`, unknown keys and missing required parameters are refused with the list of valid ones."""
    known = {p.name: p for p in ep.params}
    out: dict[str, Any] = {}
    for arg in args:
        eq = arg.find("=")
        raw_json = eq > 0 and arg[eq - 1] == ":"
        key, value = (arg[: eq - 1] if raw_json else arg[:eq]).strip(), arg[eq + 1 :]
        if eq <= 0 or not key:
            raise ConsoleError(f"{arg!r}: write parameters as key=value (or key:=JSON)")
        param = known.get(key)
        if param is None and check:
            names = ", ".join(p.name for p in ep.params) or "none"
            raise ConsoleError(f"{ep.path} has no parameter {key!r}; its parameters: {names}")
        try:
            if raw_json:
                out[key] = orjson.loads(value)
            else:
                out[key] = _convert(param, value) if param is not None else value
        except (ValueError, orjson.JSONDecodeError) as exc:
            kind = param.type if param is not None else "JSON"
            raise ConsoleError(f"{key}={value!r}: not a valid {kind} ({exc})") from None
    if check:
        missing = [p.name for p in ep.params if p.required and p.name not in out]
        if missing:
            raise ConsoleError(f"{ep.path} needs {', '.join(missing)} (see `pipeline api list {ep.path}`)")
    return out


def _masked(ep: Endpoint, params: Mapping[str, Any]) -> dict[str, Any]:
    secret = {p.name for p in ep.params if p.secret}
    shown: dict[str, Any] = scrub(dict(params))
    return {k: (REDACTED if k in secret and v not in (None, "") else v) for k, v in shown.items()}


@dataclass(slots=True)
class CallResult:
    """What one console call did; every field is JSON-safe and free of secrets."""

    endpoint: str
    app: str
    method: str
    url: str
    query: dict[str, Any]
    body: dict[str, Any] | None
    ok: bool
    elapsed_ms: float
    response: dict[str, Any] | None = None
    errcode: int | None = None
    errmsg: str | None = None
    meaning: str | None = None
    hint: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def call(client: ExmailClient, path: str, params: Mapping[str, Any], *, app: App | str | None = None,
               clock: Callable[[], float] = time.perf_counter) -> CallResult:
    """Call `path` with already-typed `params` (query for GET, JSON body for POST) through the client's pacing,
    token cache and retries. Never raises for an API or transport failure: the result says what happened,
    with the errcode's documented meaning and a fix hint."""
    ep = endpoint(path)
    use_app = App(app) if app is not None else ep.app
    is_get = ep.method == "GET"
    shown = _masked(ep, params)
    base = client.settings.base_url
    query = {"access_token": REDACTED, **(shown if is_get else {})}
    url = f"{base}{ep.path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    result = CallResult(endpoint=ep.path, app=use_app.value, method=ep.method, url=url, query=query,
                        body=None if is_get else shown, ok=False, elapsed_ms=0.0)
    started = clock()
    try:
        answer = await client.request(ep.path, params=dict(params) if is_get else None,
                                      body=None if is_get else dict(params), app=use_app)
    except ExmailError as exc:
        result.elapsed_ms = round((clock() - started) * 1000, 1)
        result.errcode, result.errmsg = exc.errcode, exc.errmsg
        if exc.errcode is not None:
            result.response = {"errcode": exc.errcode, "errmsg": exc.errmsg}
        result.meaning, result.hint = explain(exc.errcode, ep, exc)
        if isinstance(exc, TransportError) or exc.errcode is None:
            result.error = str(exc)
        return result
    result.elapsed_ms = round((clock() - started) * 1000, 1)
    result.ok = True
    result.response = scrub(answer)
    result.errcode = int(answer.get("errcode", 0) or 0)
    result.errmsg = str(answer.get("errmsg", ""))
    return result
