"""The /cgi-bin/ surface: every endpoint of the Exmail reference with its paths, methods, JSON shapes,
errmsg strings and errcodes; per-app tokens; date-window checks; the fake SSO login page."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date as Date
from datetime import datetime
from functools import partial
from typing import Any
from urllib.parse import quote

import orjson
from aiohttp import web

from pipeline import streams
from pipeline.sim._corp import CorpState
from pipeline.sim._errors import ApiError
from pipeline.sim._state import ROOT_ID, User, _as_int, date_range, valid_domain
from pipeline.sim._tokens import RateLimiter, TokenStore
from pipeline.sim._truth import mail_status, order_entries
from pipeline.sim.clock import SimClock
from pipeline.sim.config import Choices

Params = dict[str, Any]

# log/operation request category -> response types it covers (the mapping is our inference)
OPERATION_CATEGORIES: dict[int, set[int] | None] = {
    1: None, 2: {39, 40, 41}, 3: {1, 2, 7, 8}, 4: {26, 27}, 5: {3, 4, 5, 6, 9, 10},
    6: set(range(11, 19)), 7: {36}, 8: set(range(19, 26)) | set(range(28, 35)), 9: {35}, 10: {37, 38},
}


def json_response(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json",
                        charset="utf-8")


def ok(errmsg: str = "ok", **fields: Any) -> dict[str, Any]:
    return {"errcode": 0, "errmsg": errmsg, **fields}


@dataclass(frozen=True)
class Endpoint:
    app: str | None
    methods: tuple[str, ...]
    handler: Callable[[Params], dict[str, Any]]


class ExmailApi:
    def __init__(self, corp: CorpState, tokens: TokenStore, limiter: RateLimiter, choices: Choices,
                 clock: SimClock) -> None:
        self.corp = corp
        self.tokens = tokens
        self.limiter = limiter
        self.choices = choices
        self.clock = clock
        self.calls: dict[str, int] = {}
        self.redirect_base = "http://127.0.0.1"
        get, post, both = ("GET",), ("POST",), ("GET", "POST")
        c, s, n, lg, f = "contact", "unique_login", "mail_notice", "system_log", "function_setting"
        self.endpoints: dict[str, Endpoint] = {
            "gettoken": Endpoint(None, get, self.gettoken),
            "department/create": Endpoint(c, post, self.department_create),
            "department/update": Endpoint(c, post, self.department_update),
            "department/delete": Endpoint(c, get, self.department_delete),
            "department/list": Endpoint(c, get, self.department_list),
            "department/search": Endpoint(c, post, self.department_search),
            "user/create": Endpoint(c, post, self.user_create),
            "user/update": Endpoint(c, post, self.user_update),
            "user/delete": Endpoint(c, get, self.user_delete),
            "user/get": Endpoint(c, get, self.user_get),
            "user/simplelist": Endpoint(c, get, self.user_simplelist),
            "user/list": Endpoint(c, get, self.user_list),
            "user/batchcheck": Endpoint(c, post, self.user_batchcheck),
            "group/create": Endpoint(c, post, self.group_create),
            "group/update": Endpoint(c, post, self.group_update),
            "group/delete": Endpoint(c, get, self.group_delete),
            "group/get": Endpoint(c, get, self.group_get),
            "tag/create": Endpoint(c, post, self.tag_create),
            "tag/update": Endpoint(c, post, self.tag_update),
            "tag/delete": Endpoint(c, get, self.tag_delete),
            "tag/get": Endpoint(c, get, self.tag_get),
            "tag/addtagusers": Endpoint(c, post, self.tag_addtagusers),
            "tag/deltagusers": Endpoint(c, post, self.tag_deltagusers),
            "tag/list": Endpoint(c, get, self.tag_list),
            "useroption/get": Endpoint(f, post, self.useroption_get),
            "useroption/update": Endpoint(f, post, self.useroption_update),
            "mail/newcount": Endpoint(n, both, self.mail_newcount),
            "log/mailstatus": Endpoint(lg, post, self.log_mailstatus),
            "log/mail": Endpoint(lg, post, self.log_mail),
            "log/login": Endpoint(lg, post, self.log_login),
            "log/operation": Endpoint(lg, post, self.log_operation),
            "service/get_login_url": Endpoint(s, get, self.get_login_url),
        }
        for stream in streams.log_kinds():  # a catalog log kind queried by date only needs no handler of its own
            query = stream.log
            if query is not None and query.endpoint not in self.endpoints and not query.per_user:
                self.endpoints[query.endpoint] = Endpoint(stream.apps[0], post, partial(self.log_by_dates, stream.kind))

    # --- dispatch

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("endpoint", "").strip("/")
        if name == "login":
            return self.sso_login(request)
        endpoint = self.endpoints.get(name)
        if endpoint is None:
            return json_response({"errcode": -1, "errmsg": f"unknown api: {name[:80]}"}, status=404)
        self.calls[name] = self.calls.get(name, 0) + 1
        if request.method not in endpoint.methods and request.method in ("GET", "POST"):
            if self.choices.wrong_method == "http_405":
                return json_response({"errcode": -1, "errmsg": "method not allowed"}, status=405)
            if self.choices.wrong_method == "errcode":
                return json_response({"errcode": -1, "errmsg": "system error"})
        elif request.method not in ("GET", "POST"):
            return json_response({"errcode": -1, "errmsg": "method not allowed"}, status=405)
        self.redirect_base = f"{request.scheme}://{request.host}"
        try:
            if self.choices.corp_disabled:
                raise ApiError(45024)
            params = await self._params(request)
            if endpoint.app is not None:
                self.tokens.check(request.query.get("access_token"), endpoint.app)
                self.limiter.check(endpoint.app)
            body = endpoint.handler(params)
        except ApiError as exc:
            return json_response(exc.body())
        return json_response(body)

    async def _params(self, request: web.Request) -> Params:
        params: Params = {}
        for key, value in request.query.items():
            if key != "access_token":
                params.setdefault(key, value)
        if request.can_read_body:
            raw = await request.read()
            if raw.strip():
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    raise ApiError(self.choices.bad_json_errcode) from None
                if not isinstance(body, dict):
                    raise ApiError(self.choices.bad_json_errcode)
                params.update({k: v for k, v in body.items() if k != "access_token"})
        return params

    # --- token

    def gettoken(self, p: Params) -> dict[str, Any]:
        token, expires_in = self.tokens.issue(p.get("corpid"), p.get("corpsecret"))
        return ok(access_token=token, expires_in=expires_in)

    # --- departments

    @property
    def dir(self) -> Any:
        return self.corp.directory

    def department_create(self, p: Params) -> dict[str, Any]:
        return ok("created", id=self.dir.create_department(p).id)

    def department_update(self, p: Params) -> dict[str, Any]:
        self.dir.update_department(p)
        return ok("updated")

    def department_delete(self, p: Params) -> dict[str, Any]:
        self.dir.delete_department(p.get("id"))
        return ok("deleted")

    def _dept_api(self, dept_id: int, with_path: bool = False) -> dict[str, Any]:
        d = self.dir.departments[dept_id]
        out = {"id": d.id, "name": d.name, "parentid": d.parentid, "order": d.order}
        if with_path:
            out["path"] = self.dir.path(d.id)
        return out

    def department_list(self, p: Params) -> dict[str, Any]:
        raw = p.get("id")
        root = ROOT_ID if raw in (None, "", 0, "0") else self.dir.department(raw).id
        ids = self.dir.subtree(root)
        if not self.choices.department_list_includes_self:
            ids = [i for i in ids if i != root]
        depts = sorted((self._dept_api(i) for i in ids), key=lambda d: d["order"])
        return ok(department=depts)

    def department_search(self, p: Params) -> dict[str, Any]:
        name = p.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.encode()) > 64:
            raise ApiError(60001)
        fuzzy = _as_int(p.get("fuzzy", 0), self.choices.invalid_param_errcode)
        needle = name.strip()
        hits = [d.id for d in self.dir.departments.values()
                if (needle in d.name if fuzzy else d.name == needle)]
        return ok(department=[self._dept_api(i, with_path=True) for i in hits])

    # --- users

    def _user_api(self, user: User, full: bool, enable_type: str) -> dict[str, Any]:
        out: dict[str, Any] = {"userid": user.userid, "name": user.name, "department": list(user.department)}
        if not full:
            return out
        gender: int | str = user.gender if self.choices.gender_type == "int" else str(user.gender)
        enable: int | str = user.enable if enable_type == "int" else str(user.enable)
        out.update(position=user.position, mobile=user.mobile, tel=user.tel, extid=user.extid, gender=gender,
                   enable=enable, slaves=list(user.slaves), cpwd_login=user.cpwd_login)
        return out

    def user_create(self, p: Params) -> dict[str, Any]:
        self.dir.create_user(p)
        return ok("created")

    def user_update(self, p: Params) -> dict[str, Any]:
        self.dir.update_user(p)
        return ok("updated")

    def user_delete(self, p: Params) -> dict[str, Any]:
        self.dir.delete_user(p.get("userid"))
        return ok("deleted")

    def user_get(self, p: Params) -> dict[str, Any]:
        user = self.dir.user(p.get("userid"))
        return ok(**self._user_api(user, True, self.choices.user_get_enable_type))

    def user_simplelist(self, p: Params) -> dict[str, Any]:
        users = self.dir.members(p.get("department_id"), p.get("fetch_child"))
        return ok(userlist=[self._user_api(u, False, "int") for u in users])

    def user_list(self, p: Params) -> dict[str, Any]:
        users = self.dir.members(p.get("department_id"), p.get("fetch_child"))
        return ok(userlist=[self._user_api(u, True, self.choices.user_list_enable_type) for u in users])

    def user_batchcheck(self, p: Params) -> dict[str, Any]:
        names = p.get("userlist")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ApiError(self.choices.invalid_param_errcode, "userlist must be a list of accounts")
        if len(names) > 20:
            raise ApiError(600027)
        return ok(list=[{"user": n, "type": self.dir.address_kind(n.strip())} for n in names])

    # --- groups

    def group_create(self, p: Params) -> dict[str, Any]:
        return ok("created", **self.dir.create_group(p))

    def group_update(self, p: Params) -> dict[str, Any]:
        return ok("updated", **self.dir.update_group(p, merge=self.choices.group_update_lists == "merge"))

    def group_delete(self, p: Params) -> dict[str, Any]:
        self.dir.delete_group(p.get("groupid"))
        return ok("deleted")

    def group_get(self, p: Params) -> dict[str, Any]:
        g = self.dir.group(p.get("groupid"))
        return ok(groupid=g.groupid, groupname=g.groupname, userlist=list(g.userlist), grouplist=list(g.grouplist),
                  department=list(g.department), taglist=list(g.taglist), allow_type=g.allow_type,
                  allow_userlist=list(g.allow_userlist), allow_department=list(g.allow_department),
                  allow_taglist=list(g.allow_taglist))

    # --- tags

    def tag_create(self, p: Params) -> dict[str, Any]:
        return ok("created", tagid=self.dir.create_tag(p).tagid)

    def tag_update(self, p: Params) -> dict[str, Any]:
        self.dir.update_tag(p)
        return ok("updated")

    def tag_delete(self, p: Params) -> dict[str, Any]:
        self.dir.delete_tag(p.get("tagid"))
        return ok("deleted")

    def tag_get(self, p: Params) -> dict[str, Any]:
        tag = self.dir.tag(p.get("tagid"))
        users = [{"userid": u, "name": self.dir.users[u].name} for u in tag.userlist if u in self.dir.users]
        return ok(tagname=tag.tagname, userlist=users, partylist=list(tag.partylist))

    def tag_addtagusers(self, p: Params) -> dict[str, Any]:
        return ok("ok", **self.dir.change_tag_members(p, add=True))

    def tag_deltagusers(self, p: Params) -> dict[str, Any]:
        return ok("deleted", **self.dir.change_tag_members(p, add=False))

    def tag_list(self, p: Params) -> dict[str, Any]:
        return ok(taglist=[{"tagid": t.tagid, "tagname": t.tagname} for t in sorted(
            self.dir.tags.values(), key=lambda t: t.tagid)])

    # --- options

    def useroption_get(self, p: Params) -> dict[str, Any]:
        types = p.get("type")
        if isinstance(types, str) and "," in types:
            types = [t for t in types.split(",") if t]
        return ok(option=self.dir.get_options(p.get("userid"), types))

    def useroption_update(self, p: Params) -> dict[str, Any]:
        self.dir.update_options(p.get("userid"), p.get("option"))
        return ok(self.choices.useroption_update_errmsg)

    # --- new mail

    def mail_newcount(self, p: Params) -> dict[str, Any]:
        user = self.dir.user(p.get("userid"))
        now = self.clock.now()
        if p.get("begin_date") not in (None, "") or p.get("end_date") not in (None, ""):
            dates = self._dates(p)
            begin, end = self.clock.day_start(dates[0]), self.clock.day_start(dates[-1]) + 86400
            return ok(count=self.corp.mailboxes.unread(user.userid, now, begin, end))
        if self.choices.newcount_without_dates == "today":
            begin = self.clock.day_start(self.clock.date_of(now))
            return ok(count=self.corp.mailboxes.unread(user.userid, now, begin, None))
        return ok(count=self.corp.mailboxes.unread(user.userid, now))

    # --- logs

    def _dates(self, p: Params) -> list[str]:
        begin, end = p.get("begin_date"), p.get("end_date")
        parsed: list[Date] = []
        for value in (begin, end):
            if not isinstance(value, str):
                raise ApiError(601001)
            try:
                parsed.append(datetime.strptime(value.strip(), "%Y-%m-%d").date())
            except ValueError:
                raise ApiError(601001) from None
        b, e = parsed
        if b > e:
            raise ApiError(601001)
        if (e - b).days > self.choices.log_max_span_days:
            raise ApiError(601002)
        return date_range(b.isoformat(), e.isoformat())

    def _visible(self, kind: str, dates: list[str]) -> list[Any]:
        now = self.clock.now()
        entries = [e for e in self.corp.logs.entries(kind, dates) if e.visible_at <= now]
        if self.choices.log_retention_days:
            cutoff = self.clock.day_start(self.clock.date_of(now)) - self.choices.log_retention_days * 86400
            entries = [e for e in entries if e.time >= cutoff]
        return entries

    def _answer(self, kind: str, entries: list[Any], dates: list[str], subject: str | None = None) -> list[Any]:
        salt = f"{kind}:{dates[0]}:{dates[-1]}:{subject}"
        return [dict(e.record) for e in order_entries(entries, self.choices.log_order, salt)]

    def log_mailstatus(self, p: Params) -> dict[str, Any]:
        domain = p.get("domain")
        if not isinstance(domain, str) or not valid_domain(domain.strip().lower()):
            raise ApiError(601003)
        domain = domain.strip().lower()
        if domain not in self.dir.domains:
            raise ApiError(601004)
        send, recv = mail_status(self.corp, domain, self._dates(p), self.clock.now())
        return ok(sendsum=send, recvsum=recv)

    def log_mail(self, p: Params) -> dict[str, Any]:
        dates = self._dates(p)
        if p.get("mailtype") in (None, ""):
            raise ApiError(self.choices.invalid_param_errcode, "mailtype missing")
        mailtype = _as_int(p.get("mailtype"), self.choices.invalid_param_errcode)
        if mailtype not in (0, 1, 2):
            raise ApiError(self.choices.invalid_param_errcode, "invalid mailtype")
        userid = p.get("userid")
        userid = userid.strip().lower() if isinstance(userid, str) and userid.strip() else None
        subject = p.get("subject") if isinstance(p.get("subject"), str) and p.get("subject") else None
        entries = []
        for e in self._visible("mail_log", dates):
            r = e.record
            if mailtype and r["mailtype"] != mailtype:
                continue
            if userid is not None:
                side = r["sender"] if r["mailtype"] == 1 else r["receiver"]
                if str(side).lower() != userid:
                    continue
            if subject is not None and subject not in str(r["subject"]):
                continue
            entries.append(e)
        return ok(list=self._answer("mail_log", entries, dates))

    def log_login(self, p: Params) -> dict[str, Any]:
        userid = p.get("userid")
        if not isinstance(userid, str) or not userid.strip():
            raise ApiError(40003)
        dates = self._dates(p)
        key = userid.strip().lower()
        entries = [e for e in self._visible("login_log", dates) if e.userid == key]
        if not entries and key not in self.dir.users:
            raise ApiError(60111)
        return ok(list=self._answer("login_log", entries, dates, key))

    def log_by_dates(self, kind: str, p: Params) -> dict[str, Any]:
        """Every visible record of `kind` in begin_date..end_date (a log endpoint without filters)."""
        dates = self._dates(p)
        return ok(list=self._answer(kind, self._visible(kind, dates), dates))

    def log_operation(self, p: Params) -> dict[str, Any]:
        dates = self._dates(p)
        raw = p.get("type")
        if raw in (None, ""):
            raise ApiError(self.choices.invalid_param_errcode, "type missing")
        category = _as_int(raw, self.choices.invalid_param_errcode)
        if category == 0 and self.choices.operation_type_zero == "all":
            category = 1
        if category not in OPERATION_CATEGORIES:
            raise ApiError(self.choices.invalid_param_errcode, "invalid type")
        wanted = OPERATION_CATEGORIES[category]
        entries = [e for e in self._visible("operation_log", dates) if wanted is None or e.record["type"] in wanted]
        return ok(list=self._answer("operation_log", entries, dates))

    # --- SSO

    def get_login_url(self, p: Params) -> dict[str, Any]:
        user = self.dir.user(p.get("userid"))
        key = self.corp.issue_authkey(user.userid)
        url = (f"{self.redirect_base}/cgi-bin/login?fun=bizopenssologin&method=openapi"
               f"&userid={quote(user.userid, safe='@')}&authkey={key}")
        return ok(login_url=url, expires_in=300)

    def sso_login(self, request: web.Request) -> web.Response:
        key = request.query.get("authkey", "")
        userid = self.corp.consume_authkey(key, request.query.get("userid"))
        if userid is None:
            return web.Response(status=403, content_type="text/html",
                                text="<html><body>login link invalid, used or expired</body></html>")
        now = int(self.clock.now())
        self.corp.logs.add("login_log", {"time": now, "ip": request.remote or "127.0.0.1", "type": 1},
                           userid=userid, origin="sso")
        self.corp.sso_logins.append({"userid": userid, "time": now})
        return web.Response(content_type="text/html",
                            text=f"<html><body>logged in as {html.escape(userid)}</body></html>")
