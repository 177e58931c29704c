"""Documented examples, not our own reading of them: every endpoint's example request and response as a
fixture file (tests/contract/fixtures/*.json, each naming its source). The client must produce the request
exactly (method, query, JSON body) and parse the response losslessly into its models; the simulator must
answer the same request with the same response (ids it generates mapped back to the example's, values that
are random by nature such as tokens compared by type only)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import BaseModel, SecretStr

from pipeline.exmail import App, AppSecrets, ExmailClient, ExmailSettings, RateLimit
from pipeline.exmail._endpoints import ENDPOINTS, GETTOKEN
from pipeline.exmail.models import (
    DepartmentCreate,
    DepartmentUpdate,
    ExmailRecord,
    GroupCreate,
    GroupUpdate,
    MailType,
    OperationCategory,
    UserCreate,
    UserOptionType,
    UserUpdate,
)
from pipeline.sim import SimConfig, run_simulator

FIXTURES = sorted((Path(__file__).parent / "fixtures").glob("*.json"))
CORP_ID = "wm0123456789abcdef"
CONTACT_SECRET = "contactsecret0000000000000000000000000000000"
SIM_START = "2016-10-07T12:00:00+08:00"  # the examples' dates are 2016-10-01..07
VARIES = {"gettoken": {"access_token"}, "department/create": {"id"}, "service/get_login_url": {"login_url"}}

Call = Callable[[ExmailClient, dict[str, Any]], Any]
CALLS: dict[str, Call] = {
    "fetch_token": lambda c, a: c.fetch_token(App(a["app"])),
    "department_create": lambda c, a: c.department_create(DepartmentCreate(**a)),
    "department_update": lambda c, a: c.department_update(DepartmentUpdate(**a)),
    "user_create": lambda c, a: c.user_create(UserCreate(**a)),
    "user_update": lambda c, a: c.user_update(UserUpdate(**a)),
    "group_create": lambda c, a: c.group_create(GroupCreate(**a)),
    "group_update": lambda c, a: c.group_update(GroupUpdate(**a)),
    "useroption_get": lambda c, a: c.useroption_get(a["userid"], [UserOptionType(t) for t in a["types"]]),
    "useroption_update": lambda c, a: c.useroption_update(
        a["userid"], {UserOptionType(int(t)): v for t, v in a["options"].items()}),
    "log_mail": lambda c, a: c.log_mail(a["begin_date"], a["end_date"], mailtype=MailType(a["mailtype"]),
                                        userid=a["userid"], subject=a["subject"]),
    "log_operation": lambda c, a: c.log_operation(a["begin_date"], a["end_date"],
                                                  category=OperationCategory(a["category"])),
}


def load(path: Path) -> dict[str, Any]:
    fixture: dict[str, Any] = orjson.loads(path.read_bytes())
    return fixture


def plain(value: Any) -> Any:
    """A parsed client result as JSON: records as the API sent them, other models field by field."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, ExmailRecord):
        raw = {k: v for k, v in value.raw.items() if k not in ("errcode", "errmsg")}  # of a whole answer
        unknown = set(raw) - set(type(value).model_fields)
        assert not unknown, f"{type(value).__name__} does not know the documented field(s) {sorted(unknown)}"
        return raw
    if isinstance(value, BaseModel):
        return {k: plain(getattr(value, k)) for k in type(value).model_fields}
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return int(value) if isinstance(value, int) else value


def test_every_endpoint_has_a_fixture_with_a_source() -> None:
    covered = {load(p)["endpoint"] for p in FIXTURES}
    assert covered == {*ENDPOINTS, GETTOKEN}
    for path in FIXTURES:
        assert len(load(path)["source"]) > 20, f"{path.name}: name the source of the example"


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
async def test_client_produces_the_request_and_parses_the_response(path: Path) -> None:
    fx = load(path)
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        endpoint = request.url.path.removeprefix("/cgi-bin/")
        if endpoint == fx["endpoint"]:
            seen.append(request)
            return httpx.Response(200, content=orjson.dumps(fx["response"]))
        assert endpoint == "gettoken", endpoint
        return httpx.Response(200, json={"errcode": 0, "errmsg": "ok", "access_token": "t" * 64, "expires_in": 7200})

    secret = SecretStr(CONTACT_SECRET)
    settings = ExmailSettings(corp_id=CORP_ID, base_url="http://exmail.test/cgi-bin/", secrets=AppSecrets(
        contact=secret, sso=secret, mail_notice=secret, system_log=secret, function_setting=secret),
        corp_rate_limit=RateLimit(rate=1000, burst=1000), app_rate_limit=RateLimit(rate=1000, burst=1000))
    async with ExmailClient(settings, transport=httpx.MockTransport(answer)) as client:
        call = fx["client"]
        method = CALLS.get(call["method"]) or (lambda c, a: getattr(c, call["method"])(**a))
        result = await method(client, call["args"])
    [request] = seen
    assert request.method == fx["method"]
    query = {k: v for k, v in request.url.params.items() if k != "access_token"}
    assert query == fx["request"].get("query", {})
    if fx["method"] == "POST":
        assert orjson.loads(request.content) == fx["request"]["body"]
    else:
        assert not request.content
    if fx["endpoint"] != "gettoken":
        assert request.url.params["access_token"] == "t" * 64  # always in the query string
    if "parsed" in fx:
        assert plain(result) == fx["parsed"]


def _substitute(value: Any, bound: dict[str, int]) -> Any:
    if isinstance(value, str) and value.startswith("$"):
        return bound[value[1:]]
    if isinstance(value, list):
        return [_substitute(v, bound) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, bound) for k, v in value.items()}
    return value


def _map_back(value: Any, ids: dict[int, int]) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return ids.get(value, value)
    if isinstance(value, list):
        return [_map_back(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _map_back(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
async def test_simulator_answers_the_documented_example(path: Path) -> None:
    fx = load(path)
    config = SimConfig(users=5, seed=2, speed=0, start=SIM_START, domain="gzdev.com", corp_id=CORP_ID,
                       app_secrets={"contact": CONTACT_SECRET}, traffic={"enabled": False}, mount_surfaces=False)
    async with run_simulator(config) as sim, httpx.AsyncClient(base_url=sim.exmail_base) as http:
        tokens: dict[str, str] = {}
        api = sim.sim.api

        async def token(app: str) -> str:
            if app not in tokens:
                secret = sim.credentials["secrets"][app]
                body = (await http.get("gettoken", params={"corpid": CORP_ID, "corpsecret": secret})).json()
                tokens[app] = body["access_token"]
            return tokens[app]

        async def call(endpoint: str, query: dict[str, Any], body: dict[str, Any] | None) -> dict[str, Any]:
            spec = api.endpoints[endpoint]
            params = dict(query)
            if spec.app is not None:
                params["access_token"] = await token(spec.app)
            if spec.methods[0] == "GET":
                resp = await http.get(endpoint, params={**params, **(body or {})})
            else:
                resp = await http.post(endpoint, params=params, json=body or {})
            answer: dict[str, Any] = resp.json()
            return answer

        bound: dict[str, int] = {}
        for step in fx.get("sim_setup", []):
            if "choices" in step:
                await sim.admin.set_choices(**step["choices"])
            elif "log" in step:
                await sim.admin.inject_log(step["log"]["kind"], step["log"]["record"], userid=step["log"].get("userid"))
            elif "deliver" in step:
                await sim.admin.deliver_mail(step["deliver"]["userid"], time=step["deliver"]["time"], push=False,
                                             log=False)
            else:
                done = await call(step["endpoint"], {}, _substitute(step["body"], bound))
                assert done["errcode"] == 0, (step, done)
                if "bind" in step:
                    bound[step["bind"]] = done["id"]
        request = fx.get("sim_request", fx["request"])
        answer = await call(fx["endpoint"], _substitute(request.get("query", {}), bound),
                            _substitute(request.get("body"), bound) if "body" in request else None)
    ids = {sim_id: int(name[1:]) for name, sim_id in bound.items()}
    expected = dict(fx.get("sim_expected", fx["response"]))  # sim_expected only where the doc contradicts itself
    got = _map_back(answer, ids)
    for key in VARIES.get(fx["endpoint"], ()):
        assert type(got.pop(key)) is type(expected.pop(key)), key  # random by nature: the type must match
    assert got == expected
