"""`pipeline api list|call` against a `pipeline sim` process: every listed endpoint can be called, secrets never
show, and the errors 60111, 601002 and 602005 come with their meaning and a fix hint."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

pytestmark = pytest.mark.integration

TODAY = "2026-03-10"
D = "corp.example.com"
USER, GROUP = f"api.user@{D}", f"api.group@{D}"


def _steps() -> list[tuple[str, list[str]]]:
    """(endpoint, params) in an order where each call's inputs exist; {dept}/{tag} are the created ids."""
    dept, tag = "{dept}", "{tag}"
    dates = [f"begin_date={TODAY}", f"end_date={TODAY}"]
    return [
        ("department/create", ["name=接口测试部", "parentid=1"]),
        ("department/update", [f"id={dept}", "name=接口测试部二"]),
        ("department/list", [f"id={dept}"]),
        ("department/search", ["name=接口测试部二", "fuzzy=1"]),
        ("user/create", [f"userid={USER}", "name=接口用户", f"department={dept}", "mobile=13900001111"]),
        ("user/update", [f"userid={USER}", "position=测试"]),
        ("user/get", [f"userid={USER}"]),
        ("user/simplelist", [f"department_id={dept}"]),
        ("user/list", [f"department_id={dept}", "fetch_child=1"]),
        ("user/batchcheck", [f"userlist={USER},nobody@{D}"]),
        ("group/create", [f"groupid={GROUP}", "groupname=接口群组", f"userlist={USER}", "allow_type=0"]),
        ("group/update", [f"groupid={GROUP}", "groupname=接口群组二"]),
        ("group/get", [f"groupid={GROUP}"]),
        ("tag/create", ["tagname=接口标签"]),
        ("tag/update", [f"tagid={tag}", "tagname=接口标签二"]),
        ("tag/get", [f"tagid={tag}"]),
        ("tag/addtagusers", [f"tagid={tag}", f"userlist={USER}"]),
        ("tag/deltagusers", [f"tagid={tag}", f"userlist={USER}"]),
        ("tag/list", []),
        ("useroption/get", [f"userid={USER}", "type=1,2,3,4"]),
        ("useroption/update", [f"userid={USER}", 'option:=[{"type": 2, "value": "0"}]']),
        ("mail/newcount", [f"userid={USER}"]),
        ("log/mailstatus", [f"domain={D}", *dates]),
        ("log/mail", [*dates, "mailtype=0"]),
        ("log/login", [f"userid=admin@{D}", *dates]),
        ("log/batchjob", dates),
        ("log/operation", ["type=1", *dates]),
        ("service/get_login_url", [f"userid={USER}"]),
        ("tag/delete", [f"tagid={tag}"]),
        ("group/delete", [f"groupid={GROUP}"]),
        ("user/delete", [f"userid={USER}"]),
        ("department/delete", [f"id={dept}"]),
    ]


def test_every_listed_endpoint_answers(cli: Any, sim_process: Any) -> None:
    listed = cli("api", "list", "--json", tenant=False)
    assert listed.exit_code == 0
    catalog = {e["path"]: e for e in orjson.loads(listed.stdout)}
    secrets = [str(v) for v in sim_process.creds["secrets"].values()]
    ids: dict[str, Any] = {}
    called = set()
    for path, params in _steps():
        filled = [p.replace("{dept}", str(ids.get("dept"))).replace("{tag}", str(ids.get("tag"))) for p in params]
        result = cli("api", "call", path, *filled, "--json")
        out = orjson.loads(result.stdout)
        assert result.exit_code == 0 and out["ok"], (path, result.output)
        assert out["app"] == catalog[path]["app"] and out["method"] == catalog[path]["method"]
        assert "access_token=***" in out["url"] and not any(s in result.output for s in secrets)
        assert out["elapsed_ms"] >= 0 and out["response"]["errcode"] == 0
        if path == "department/create":
            ids["dept"] = out["response"]["id"]
        if path == "tag/create":
            ids["tag"] = out["response"]["tagid"]
        if path == "service/get_login_url":
            assert "authkey=***" in out["response"]["login_url"]
        called.add(path)
    assert called == set(catalog)
    text = cli("api", "call", "user/get", f"userid=admin@{D}")
    assert text.exit_code == 0 and "< ok in" in text.stdout and f'"userid": "admin@{D}"' in text.stdout


@pytest.mark.parametrize(("args", "code", "meaning", "hint"), [
    (["user/get", f"userid=nobody@{D}"], 60111, "UserID does not exist", "check the spelling"),
    (["log/mail", "begin_date=2025-01-01", f"end_date={TODAY}", "mailtype=0"], 601002,
     "time span exceeds the limit", "split it into shorter ranges"),
    (["log/mail", f"begin_date={TODAY}", f"end_date={TODAY}", "mailtype=0", "--app", "contact"], 602005,
     "no permission to access this API", "belongs to the system_log app"),
])
def test_errors_are_explained(cli: Any, args: list[str], code: int, meaning: str, hint: str) -> None:
    result = cli("api", "call", *args)
    assert result.exit_code == 1
    assert f"< errcode {code} in" in result.stdout
    assert "meaning: " in result.stdout and meaning in result.stdout
    assert "fix: " in result.stdout and hint in result.stdout
    as_json = orjson.loads(cli("api", "call", *args, "--json").stdout)
    assert as_json["ok"] is False and as_json["errcode"] == code and meaning in as_json["meaning"]
    assert hint in as_json["hint"]


def test_bad_parameters_are_refused_before_calling(cli: Any) -> None:
    result = cli("api", "call", "user/get", "uid=x")
    assert result.exit_code == 2 and "has no parameter 'uid'" in result.stderr
    missing = cli("api", "call", "log/mail", f"begin_date={TODAY}")
    assert missing.exit_code == 2 and "needs end_date, mailtype" in missing.stderr
