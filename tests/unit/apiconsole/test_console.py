"""The API console without a server: the catalog comes from the endpoint table, parameters are typed by it,
bad ones are refused with the valid names, and errcodes are explained with a hint."""

from __future__ import annotations

import pytest

from pipeline.apiconsole import ConsoleError, catalog, endpoint, explain, parse_params
from pipeline.exmail import ENDPOINTS, TransportError


def test_catalog_lists_every_endpoint_with_its_app_and_parameters() -> None:
    infos = {i.path: i for i in catalog()}
    assert set(infos) == set(ENDPOINTS)
    mail = infos["log/mail"]
    assert (mail.app, mail.method) == ("system_log", "POST")
    assert [(p.name, p.required, p.where) for p in mail.params][:3] == [
        ("begin_date", True, "body"), ("end_date", True, "body"), ("mailtype", True, "body")]
    assert all(p.where == "query" for p in infos["user/get"].params)


def test_parameters_are_typed() -> None:
    ep = endpoint("/cgi-bin/user/create")
    got = parse_params(ep, ["userid=a@x.com", "name=A", "department=1,4913577855806636138", "gender=1",
                            "cpwd_login=true", "slaves:=[\"b@x.com\"]"])
    assert got == {"userid": "a@x.com", "name": "A", "department": [1, 4913577855806636138], "gender": "1",
                   "cpwd_login": 1, "slaves": ["b@x.com"]}
    assert parse_params(endpoint("useroption/update"), ["userid=a", 'option=[{"type": 1, "value": "1"}]']) == \
        {"userid": "a", "option": [{"type": 1, "value": "1"}]}


@pytest.mark.parametrize(("path", "args", "message"), [
    ("user/get", ["uid=a"], "has no parameter 'uid'; its parameters: userid"),
    ("log/mail", ["begin_date=2026-01-01"], "needs end_date, mailtype"),
    ("department/list", ["id=abc"], "id='abc': not a valid int64"),
    ("user/get", ["userid"], "write parameters as key=value"),
    ("user/gett", [], "did you mean"),
])
def test_bad_requests_are_refused(path: str, args: list[str], message: str) -> None:
    with pytest.raises(ConsoleError, match=message.replace("(", r"\(")):
        parse_params(endpoint(path), args)


def test_errcodes_are_explained() -> None:
    log_mail = ENDPOINTS["log/mail"]
    assert explain(60111, ENDPOINTS["user/get"])[0] == "UserID does not exist"
    meaning, hint = explain(602005, log_mail)
    assert meaning == "the app has no permission to access this API" and "system_log app" in str(hint)
    assert "shorter ranges" in str(explain(601002, log_mail)[1])
    assert explain(99999, log_mail)[0] == "not in the Exmail errcode table"
    assert "check the parameter" in str(explain(60112, ENDPOINTS["user/create"])[1])
    transport = explain(None, log_mail, TransportError(None, "timeout", "log/mail", reason="timeout"))
    assert "timeout" in str(transport[0])
