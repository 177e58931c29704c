"""Every endpoint the client calls: path (relative to the base URL), HTTP method, owning app, its documented
parameters (reference §4-§8; GET parameters travel in the query, POST ones in the JSON body), and whether it
is a per-user endpoint whose calls share the per-user concurrency cap. The API console lists this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pipeline.exmail.models import App

ParamType = Literal["str", "int", "int64", "flag", "str[]", "int64[]", "object[]"]


@dataclass(frozen=True, slots=True)
class Param:
    """One documented request parameter; `secret` values are masked wherever a request is shown."""

    name: str
    type: ParamType
    required: bool = False
    doc: str = ""
    secret: bool = False


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    method: Literal["GET", "POST"]
    app: App
    doc: str
    per_user: bool = False
    params: tuple[Param, ...] = ()


def _p(spec: str, doc: str = "") -> Param:
    """'name:type' optional, 'name:type!' required, 'name:type*' secret."""
    name, _, kind = spec.partition(":")
    required, secret = kind.endswith("!"), kind.endswith("*")
    return Param(name, kind.rstrip("!*"), required, doc, secret)  # type: ignore[arg-type]


def _ep(path: str, method: Literal["GET", "POST"], app: App, doc: str, per_user: bool = False,
        params: tuple[Param, ...] = ()) -> Endpoint:
    return Endpoint(path, method, app, doc, per_user, params)


_DATES = (_p("begin_date:str!", "YYYY-MM-DD"), _p("end_date:str!", "YYYY-MM-DD (span limit ~3 months: 601002)"))
_USER_FIELDS = (
    _p("position:str"), _p("mobile:str"), _p("tel:str"), _p("extid:str", "employee number"),
    _p("gender:str", "1 male, 2 female"), _p("slaves:str[]", "aliases, at most 5"),
    _p("password:str*", "upper, lower and digits, 6-32"), _p("cpwd_login:flag", "1 = change password at next login"),
    _p("setvip:flag", "newer doc: 1 = VIP account"),
)
_GROUP_FIELDS = (
    _p("userlist:str[]"), _p("grouplist:str[]"), _p("department:int64[]"),
    _p("allow_userlist:str[]", "senders when allow_type=3"),
)


_C, _S, _N, _L, _F = App.CONTACT, App.SSO, App.MAIL_NOTICE, App.SYSTEM_LOG, App.FUNCTION_SETTING

GETTOKEN = "gettoken"

ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        _ep("department/create", "POST", _C, "#10008",
            params=(_p("name:str!", "1-64 bytes"), _p("parentid:int64!", "1 = root"), _p("order:int"))),
        _ep("department/update", "POST", _C, "#10009",
            params=(_p("id:int64!"), _p("name:str"), _p("parentid:int64"), _p("order:int"))),
        _ep("department/delete", "GET", _C, "#10010", params=(_p("id:int64!"),)),
        _ep("department/list", "GET", _C, "#10011",
            params=(_p("id:int64", "omit for the whole organisation"),)),
        _ep("department/search", "POST", _C, "#10012",
            params=(_p("name:str!"), _p("fuzzy:flag", "1 = fuzzy match"))),
        _ep("user/create", "POST", _C, "#10014",
            params=(_p("userid:str!", "mailbox address"), _p("name:str!"), _p("department:int64[]!", "up to 20"),
                    *_USER_FIELDS)),
        _ep("user/update", "POST", _C, "#10015",
            params=(_p("userid:str!"), _p("name:str"), _p("department:int64[]"), _p("enable:flag", "0 disables"),
                    *_USER_FIELDS)),
        _ep("user/delete", "GET", _C, "#10016", params=(_p("userid:str!"),)),
        _ep("user/get", "GET", _C, "#10017", params=(_p("userid:str!"),)),
        _ep("user/simplelist", "GET", _C, "#10018",
            params=(_p("department_id:int64!", "1 = root"), _p("fetch_child:flag", "1 = recurse"))),
        _ep("user/list", "GET", _C, "#10019",
            params=(_p("department_id:int64!", "1 = root"), _p("fetch_child:flag", "1 = recurse"))),
        _ep("user/batchcheck", "POST", _C, "#10020",
            params=(_p("userlist:str[]!", "at most 20 (600027)"),)),
        _ep("group/create", "POST", _C, "#10022",
            params=(_p("groupid:str!"), _p("groupname:str!"), *_GROUP_FIELDS,
                    _p("allow_type:int!", "0 members, 1 anyone, 2 group, 3 listed"))),
        _ep("group/update", "POST", _C, "#10023",
            params=(_p("groupid:str!"), _p("groupname:str"), *_GROUP_FIELDS, _p("allow_type:int"))),
        _ep("group/delete", "GET", _C, "#10024", params=(_p("groupid:str!"),)),
        _ep("group/get", "GET", _C, "#10025", params=(_p("groupid:str!"),)),
        _ep("tag/create", "POST", _C, "#10050-#10056",
            params=(_p("tagname:str!", "at most 32 chars"), _p("tagid:int"))),
        _ep("tag/update", "POST", _C, "#10050-#10056",
            params=(_p("tagid:int!"), _p("tagname:str!"))),
        _ep("tag/delete", "GET", _C, "#10050-#10056", params=(_p("tagid:int!"),)),
        _ep("tag/get", "GET", _C, "#10050-#10056", params=(_p("tagid:int!"),)),
        _ep("tag/addtagusers", "POST", _C, "#10050-#10056",
            params=(_p("tagid:int!"), _p("userlist:str[]"), _p("partylist:int64[]"))),
        _ep("tag/deltagusers", "POST", _C, "#10050-#10056",
            params=(_p("tagid:int!"), _p("userlist:str[]"), _p("partylist:int64[]"))),
        _ep("tag/list", "GET", _C, "#10050-#10056"),
        _ep("useroption/get", "POST", _F, "#10047", per_user=True,
            params=(_p("userid:str!"), _p("type:int64[]!", "option types 1-4"))),
        _ep("useroption/update", "POST", _F, "#10048",
            params=(_p("userid:str!"), _p("option:object[]!", '[{"type": 1, "value": "1"}]; type 4 is read-only'))),
        _ep("mail/newcount", "GET", _N, "#10033", per_user=True,
            params=(_p("userid:str!"), _p("begin_date:str"), _p("end_date:str"))),
        _ep("log/mailstatus", "POST", _L, "#10027", params=(_p("domain:str!"), *_DATES)),
        _ep("log/mail", "POST", _L, "#10028",
            params=(*_DATES, _p("mailtype:int!", "0 all, 1 sent, 2 received"), _p("userid:str"), _p("subject:str"))),
        _ep("log/login", "POST", _L, "#10029", per_user=True, params=(_p("userid:str!"), *_DATES)),
        _ep("log/batchjob", "POST", _L, "#10030", params=_DATES),
        _ep("log/operation", "POST", _L, "#10031",
            params=(_p("type:int!", "1 all ... 10 member permissions"), *_DATES)),
        _ep("service/get_login_url", "GET", _S, "#10036", params=(_p("userid:str!"),)),
    )
}
