"""Every endpoint the client calls: path (relative to the base URL), HTTP method, owning app, and whether it
is a per-user endpoint whose calls share the per-user concurrency cap."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.exmail.models import App


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    method: Literal["GET", "POST"]
    app: App
    doc: str
    per_user: bool = False


def _ep(path: str, method: Literal["GET", "POST"], app: App, doc: str, per_user: bool = False) -> Endpoint:
    return Endpoint(path, method, app, doc, per_user)


_C, _S, _N, _L, _F = App.CONTACT, App.SSO, App.MAIL_NOTICE, App.SYSTEM_LOG, App.FUNCTION_SETTING

GETTOKEN = "gettoken"

ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        _ep("department/create", "POST", _C, "#10008"),
        _ep("department/update", "POST", _C, "#10009"),
        _ep("department/delete", "GET", _C, "#10010"),
        _ep("department/list", "GET", _C, "#10011"),
        _ep("department/search", "POST", _C, "#10012"),
        _ep("user/create", "POST", _C, "#10014"),
        _ep("user/update", "POST", _C, "#10015"),
        _ep("user/delete", "GET", _C, "#10016"),
        _ep("user/get", "GET", _C, "#10017"),
        _ep("user/simplelist", "GET", _C, "#10018"),
        _ep("user/list", "GET", _C, "#10019"),
        _ep("user/batchcheck", "POST", _C, "#10020"),
        _ep("group/create", "POST", _C, "#10022"),
        _ep("group/update", "POST", _C, "#10023"),
        _ep("group/delete", "GET", _C, "#10024"),
        _ep("group/get", "GET", _C, "#10025"),
        _ep("tag/create", "POST", _C, "#10050-#10056"),
        _ep("tag/update", "POST", _C, "#10050-#10056"),
        _ep("tag/delete", "GET", _C, "#10050-#10056"),
        _ep("tag/get", "GET", _C, "#10050-#10056"),
        _ep("tag/addtagusers", "POST", _C, "#10050-#10056"),
        _ep("tag/deltagusers", "POST", _C, "#10050-#10056"),
        _ep("tag/list", "GET", _C, "#10050-#10056"),
        _ep("useroption/get", "POST", _F, "#10047", per_user=True),
        _ep("useroption/update", "POST", _F, "#10048"),
        _ep("mail/newcount", "GET", _N, "#10033", per_user=True),
        _ep("log/mailstatus", "POST", _L, "#10027"),
        _ep("log/mail", "POST", _L, "#10028"),
        _ep("log/login", "POST", _L, "#10029", per_user=True),
        _ep("log/batchjob", "POST", _L, "#10030"),
        _ep("log/operation", "POST", _L, "#10031"),
        _ep("service/get_login_url", "GET", _S, "#10036"),
    )
}
