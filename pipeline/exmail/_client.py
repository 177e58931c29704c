"""The Exmail API client: one object per corp, owning its HTTP connection pool, token cache and pacing.

Every call goes: per-user concurrency slot (per-user endpoints only) -> access_token for the endpoint's app
(cached, single flight) -> corp and app token buckets -> HTTP -> errcode -> typed model. Transient failures
are retried inside the retry budget; a refused token is refreshed and the call retried once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import date
from types import TracebackType
from typing import Any, TypeVar

import httpx
import orjson

from pipeline import metrics
from pipeline.clock import FunctionClock
from pipeline.exmail._dates import DateLike, date_range, each_date, split_span
from pipeline.exmail._endpoints import ENDPOINTS, GETTOKEN, Endpoint
from pipeline.exmail._errors import (
    TOKEN_INVALID_CODES,
    AuthError,
    ExmailError,
    RateLimited,
    ResponseFormatError,
    TransportError,
)
from pipeline.exmail._parse import (
    BATCHJOB_ROWS,
    LOGIN_ROWS,
    MAIL_ROWS,
    OPERATION_ROWS,
    BatchCheck,
    BatchJobLog,
    DepartmentCreated,
    DepartmentList,
    DepartmentSearch,
    LoginLog,
    MailLog,
    OperationLog,
    TagCreated,
    TagList,
    UserList,
    UserOptions,
    UserSimpleList,
    decode_payload,
    parse_model,
)
from pipeline.exmail._ratelimit import ConcurrencyLimit
from pipeline.exmail._retry import Backoff, retry_reason
from pipeline.exmail._settings import ExmailSettings
from pipeline.exmail._tokens import TokenCache
from pipeline.exmail.models import (
    AccessToken,
    AccountCheck,
    App,
    BatchJobLogRecord,
    Department,
    DepartmentCreate,
    DepartmentMatch,
    DepartmentUpdate,
    Group,
    GroupCreate,
    GroupUpdate,
    GroupWriteResult,
    LogDay,
    LoginLogRecord,
    LoginUrl,
    MailLogRecord,
    MailStatusSummary,
    MailType,
    NewCount,
    OperationCategory,
    OperationLogRecord,
    Tag,
    TagDetail,
    TagMembersResult,
    User,
    UserBrief,
    UserCreate,
    UserOption,
    UserOptionSetting,
    UserOptionType,
    UserUpdate,
)
from pipeline.ratelimit import TokenBucket
from pipeline.secrets import REDACTED, scrub_text

log = logging.getLogger("pipeline.exmail")

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

BATCHCHECK_MAX = 20
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}


class _ScrubFilter(logging.Filter):
    """Masks access_token/corpsecret in the request lines httpx and httpcore log."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = scrub_text(record.getMessage())
        record.args = None
        return True


def _install_log_scrubber() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ScrubFilter) for f in logger.filters):
            logger.addFilter(_ScrubFilter())


class ExmailClient:
    """Async client for one corp. Use as `async with ExmailClient(settings) as client:` or call `aclose()`.

    `transport`, `clock`, `sleep` and `rng` exist for tests (httpx.MockTransport, fake time, seeded jitter).
    """

    def __init__(
        self,
        settings: ExmailSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.corp_id = settings.corp_id
        self._clock = clock
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            transport=transport,
            timeout=httpx.Timeout(settings.read_timeout_seconds, connect=settings.connect_timeout_seconds),
            limits=httpx.Limits(max_connections=settings.max_connections),
            headers={"User-Agent": "exmail-pipeline"},
            follow_redirects=False,
        )
        self._tokens = TokenCache(self._fetch_token, clock=clock, margin=settings.token_refresh_margin_seconds)
        self._corp_bucket = self._bucket(settings.corp_rate_limit.rate, settings.corp_rate_limit.burst)
        self._app_buckets = {
            app: self._bucket(settings.rate_limit_for(app).rate, settings.rate_limit_for(app).burst) for app in App
        }
        self._per_user = ConcurrencyLimit(settings.per_user_concurrency, clock=clock)
        self._backoff = Backoff(settings.retry, rng or random.Random())
        _install_log_scrubber()

    def _bucket(self, rate: float, burst: int) -> TokenBucket:
        return TokenBucket(rate, burst, clock=FunctionClock(self._clock, self._sleep))

    def __repr__(self) -> str:
        return f"ExmailClient(corp_id={self.corp_id!r}, base_url={scrub_text(self.settings.base_url)!r})"

    async def __aenter__(self) -> ExmailClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ------------------------------------------------------------------ plumbing

    def _observe_wait(self, bucket: str, seconds: float) -> None:
        metrics.RATE_LIMIT_WAIT.labels(self.corp_id, bucket).observe(seconds)

    async def _pace(self, app: App) -> None:
        self._observe_wait("corp", await self._corp_bucket.reserve())
        self._observe_wait(f"app:{app.value}", await self._app_buckets[app].reserve())

    async def _send(
        self,
        endpoint: str,
        method: str,
        app: App,
        params: Mapping[str, Any],
        body: Mapping[str, Any] | None,
        secrets: Iterable[str],
    ) -> dict[str, Any]:
        """One HTTP attempt: pace, send, classify. Records the attempt's metrics."""
        await self._pace(app)
        request = self._http.build_request(
            method,
            endpoint,
            params=dict(params),
            content=orjson.dumps(body) if body is not None else None,
            headers=_JSON_HEADERS if body is not None else None,
        )
        safe_url = scrub_text(str(request.url))
        started = self._clock()
        try:
            payload = await self._exchange(endpoint, request)
        except ExmailError as exc:
            error = _mask_values(exc, secrets)
            self._record(app, endpoint, started, error)
            log.debug("exmail %s %s failed: %s", method, safe_url, error)
            raise error from None
        self._record(app, endpoint, started, None)
        log.debug("exmail %s %s ok in %.3fs", method, safe_url, self._clock() - started)
        return payload

    async def _exchange(self, endpoint: str, request: httpx.Request) -> dict[str, Any]:
        # Errors are raised after the except blocks so they carry no __context__ (which holds the request URL).
        response: httpx.Response | None = None
        failure: TransportError | None = None
        try:
            response = await self._http.send(request)
        except httpx.TimeoutException as exc:
            failure = TransportError(None, f"timeout ({type(exc).__name__})", endpoint, reason="timeout")
        except (httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
            failure = TransportError(
                None, f"{type(exc).__name__}: {exc}", endpoint, reason="protocol", retryable=False
            )
        except httpx.TransportError as exc:
            failure = TransportError(None, f"{type(exc).__name__}: {exc}", endpoint, reason="connection")
        if failure is not None or response is None:
            raise failure or TransportError(None, "no response", endpoint, reason="connection")
        status = response.status_code
        if status >= 500:
            raise TransportError(None, f"HTTP {status}", endpoint, status_code=status, reason=f"http_{status}")
        if status == 429:
            raise RateLimited(None, "HTTP 429 Too Many Requests", endpoint)
        if not 200 <= status < 300:
            raise TransportError(
                None, f"HTTP {status}", endpoint, status_code=status, reason=f"http_{status}", retryable=False
            )
        return decode_payload(response.content, endpoint)

    def _record(self, app: App, endpoint: str, started: float, error: ExmailError | None) -> None:
        metrics.API_LATENCY.labels(self.corp_id, endpoint).observe(max(0.0, self._clock() - started))
        if error is None:
            outcome = "ok"
        elif isinstance(error, TransportError):
            outcome = "transport_error"
        elif isinstance(error, ResponseFormatError):
            outcome = "bad_response"
        else:
            outcome = "api_error"
        metrics.API_REQUESTS.labels(self.corp_id, app.value, endpoint, outcome).inc()
        if error is not None:
            metrics.API_ERRORS.labels(self.corp_id, endpoint, _error_label(error)).inc()

    def _retry_wait(self, endpoint: str, error: ExmailError, attempts: int, started: float) -> float | None:
        """Seconds to wait before retrying `error`, or None to give up (not retryable / budget spent)."""
        reason = retry_reason(error)
        if reason is None:
            return None
        wait = self._backoff.next_delay(attempts, self._clock() - started)
        if wait is None:
            log.warning("exmail %s: giving up after %d attempts: %s", endpoint, attempts, error)
            return None
        metrics.API_RETRIES.labels(self.corp_id, endpoint, reason).inc()
        log.info("exmail %s: retry %d in %.2fs after %s", endpoint, attempts, wait, error)
        return wait

    async def _fetch_token(self, app: App) -> AccessToken:
        secret = self.settings.secrets.for_app(app)
        if secret is None:
            raise AuthError(None, f"no secret configured for app {app.value!r}", GETTOKEN)
        secret_value = secret.get_secret_value()
        params = {"corpid": self.corp_id, "corpsecret": secret_value}
        started, attempts = self._clock(), 0
        while True:
            attempts += 1
            try:
                payload = await self._send(GETTOKEN, "GET", app, params, None, (secret_value,))
                break
            except ExmailError as exc:
                wait = self._retry_wait(GETTOKEN, exc, attempts, started)
                if wait is None:
                    raise
            await self._sleep(wait)
        token = parse_model(AccessToken, payload, GETTOKEN)
        metrics.TOKEN_REFRESHES.labels(self.corp_id, app.value).inc()
        log.info("exmail: fetched access_token for app %s (expires_in %ss)", app.value, token.expires_in)
        return token

    async def _call(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        app: App | None = None,
    ) -> dict[str, Any]:
        endpoint = ENDPOINTS[path]
        if app is not None and app is not endpoint.app:
            endpoint = dataclasses.replace(endpoint, app=app)
        if endpoint.per_user:
            async with self._per_user.slot(lambda waited: self._observe_wait("per_user", waited)):
                return await self._call_with_token(endpoint, params or {}, body)
        return await self._call_with_token(endpoint, params or {}, body)

    async def _call_with_token(
        self, endpoint: Endpoint, params: Mapping[str, Any], body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        if endpoint.method == "GET" and body is not None:
            raise ValueError(f"{endpoint.path} is a GET endpoint and takes no body")
        started, attempts, refreshed = self._clock(), 0, False
        while True:
            token = await self._tokens.get(endpoint.app)
            attempts += 1
            try:
                return await self._send(
                    endpoint.path,
                    endpoint.method,
                    endpoint.app,
                    {"access_token": token, **params},
                    body,
                    (token,),
                )
            except ExmailError as exc:
                if exc.errcode in TOKEN_INVALID_CODES and not refreshed:
                    refreshed = True
                    attempts -= 1
                    self._tokens.invalidate(endpoint.app, token)
                    metrics.API_RETRIES.labels(self.corp_id, endpoint.path, f"token_{exc.errcode}").inc()
                    log.info("exmail %s: token refused (%s), refreshing once", endpoint.path, exc.errcode)
                    continue
                wait = self._retry_wait(endpoint.path, exc, attempts, started)
                if wait is None:
                    raise
            await self._sleep(wait)

    async def _chunked(
        self, begin: DateLike, end: DateLike, fetch: Callable[[date, date], Awaitable[T]]
    ) -> list[T]:
        """`fetch` over API-sized chunks of begin..end, results in date order."""
        first, last = date_range(begin, end)
        return [await fetch(a, b) for a, b in split_span(first, last, self.settings.log_span_days)]

    async def _per_day(
        self, begin: DateLike, end: DateLike, fetch: Callable[[date, date], Awaitable[T]]
    ) -> AsyncIterator[LogDay[T]]:
        first, last = date_range(begin, end)
        for day in each_date(first, last):
            yield LogDay(day, await fetch(day, day))

    # ------------------------------------------------------------------ raw calls

    async def request(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        app: App | None = None,
    ) -> dict[str, Any]:
        """Call a documented endpoint by path with the same pacing, token and retries as the typed methods and
        return the decoded answer (the API console). `app` uses another app's token, e.g. to see 602005."""
        if path not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {path!r}")
        return await self._call(path, params=params, body=body, app=App(app) if app is not None else None)

    # ------------------------------------------------------------------ gettoken

    async def fetch_token(self, app: App) -> AccessToken:
        """Call gettoken for `app` now, bypassing the cache (the cache refreshes on its own)."""
        return await self._fetch_token(App(app))

    def forget_tokens(self) -> None:
        """Drop every cached token (e.g. after a secret rotation)."""
        self._tokens.clear()

    # ------------------------------------------------------------------ departments

    async def department_create(self, request: DepartmentCreate) -> int:
        """Create a department; returns its (64-bit) id."""
        payload = await self._call("department/create", body=request.wire())
        return parse_model(DepartmentCreated, payload, "department/create").id

    async def department_update(self, request: DepartmentUpdate) -> None:
        await self._call("department/update", body=request.wire())

    async def department_delete(self, department_id: int) -> None:
        await self._call("department/delete", params={"id": department_id})

    async def department_list(self, department_id: int | None = None) -> list[Department]:
        """The department and its sub-departments; the whole organisation when `department_id` is None."""
        params = {} if department_id is None else {"id": department_id}
        payload = await self._call("department/list", params=params)
        return parse_model(DepartmentList, payload, "department/list").department

    async def department_search(self, name: str, *, fuzzy: bool = False) -> list[DepartmentMatch]:
        payload = await self._call("department/search", body={"name": name, "fuzzy": int(fuzzy)})
        return parse_model(DepartmentSearch, payload, "department/search").department

    # ------------------------------------------------------------------ users

    async def user_create(self, request: UserCreate) -> None:
        await self._call("user/create", body=request.wire())

    async def user_update(self, request: UserUpdate) -> None:
        await self._call("user/update", body=request.wire())

    async def user_delete(self, userid: str) -> None:
        await self._call("user/delete", params={"userid": userid})

    async def user_get(self, userid: str) -> User:
        payload = await self._call("user/get", params={"userid": userid})
        return parse_model(User, payload, "user/get")

    async def user_simplelist(self, department_id: int, *, fetch_child: bool = False) -> list[UserBrief]:
        params = {"department_id": department_id, "fetch_child": int(fetch_child)}
        payload = await self._call("user/simplelist", params=params)
        return parse_model(UserSimpleList, payload, "user/simplelist").userlist

    async def user_list(self, department_id: int, *, fetch_child: bool = False) -> list[User]:
        params = {"department_id": department_id, "fetch_child": int(fetch_child)}
        payload = await self._call("user/list", params=params)
        return parse_model(UserList, payload, "user/list").userlist

    async def user_batchcheck(self, userids: Sequence[str]) -> list[AccountCheck]:
        """Classify accounts (free / primary / alias / group / invalid), 20 per API call, results in order."""
        results: list[AccountCheck] = []
        for start in range(0, len(userids), BATCHCHECK_MAX):
            chunk = list(userids[start : start + BATCHCHECK_MAX])
            payload = await self._call("user/batchcheck", body={"userlist": chunk})
            results.extend(parse_model(BatchCheck, payload, "user/batchcheck").records)
        return results

    # ------------------------------------------------------------------ mail groups

    async def group_create(self, request: GroupCreate) -> GroupWriteResult:
        payload = await self._call("group/create", body=request.wire())
        return parse_model(GroupWriteResult, payload, "group/create")

    async def group_update(self, request: GroupUpdate) -> GroupWriteResult:
        payload = await self._call("group/update", body=request.wire())
        return parse_model(GroupWriteResult, payload, "group/update")

    async def group_delete(self, groupid: str) -> None:
        await self._call("group/delete", params={"groupid": groupid})

    async def group_get(self, groupid: str) -> Group:
        payload = await self._call("group/get", params={"groupid": groupid})
        return parse_model(Group, payload, "group/get")

    # ------------------------------------------------------------------ tags

    async def tag_create(self, tagname: str, tagid: int | None = None) -> int:
        """Create a tag; returns its id (the server picks max id + 1 when `tagid` is None)."""
        body: dict[str, Any] = {"tagname": tagname}
        if tagid is not None:
            body["tagid"] = tagid
        payload = await self._call("tag/create", body=body)
        return parse_model(TagCreated, payload, "tag/create").tagid

    async def tag_update(self, tagid: int, tagname: str) -> None:
        await self._call("tag/update", body={"tagid": tagid, "tagname": tagname})

    async def tag_delete(self, tagid: int) -> None:
        await self._call("tag/delete", params={"tagid": tagid})

    async def tag_get(self, tagid: int) -> TagDetail:
        payload = await self._call("tag/get", params={"tagid": tagid})
        return parse_model(TagDetail, payload, "tag/get")

    async def tag_add_users(
        self, tagid: int, userlist: Sequence[str] = (), partylist: Sequence[int] = ()
    ) -> TagMembersResult:
        """Add members; entries the server refused come back in the result (all refused -> 40070)."""
        return await self._tag_members("tag/addtagusers", tagid, userlist, partylist)

    async def tag_delete_users(
        self, tagid: int, userlist: Sequence[str] = (), partylist: Sequence[int] = ()
    ) -> TagMembersResult:
        """Remove members; entries the server refused come back in the result (all refused -> 40031)."""
        return await self._tag_members("tag/deltagusers", tagid, userlist, partylist)

    async def _tag_members(
        self, path: str, tagid: int, userlist: Sequence[str], partylist: Sequence[int]
    ) -> TagMembersResult:
        if not userlist and not partylist:
            raise ValueError(f"{path}: userlist and partylist must not both be empty")
        body: dict[str, Any] = {"tagid": tagid}
        if userlist:
            body["userlist"] = list(userlist)
        if partylist:
            body["partylist"] = [int(p) for p in partylist]
        payload = await self._call(path, body=body)
        return parse_model(TagMembersResult, payload, path)

    async def tag_list(self) -> list[Tag]:
        payload = await self._call("tag/list")
        return parse_model(TagList, payload, "tag/list").taglist

    # ------------------------------------------------------------------ function settings

    async def useroption_get(
        self, userid: str, types: Sequence[UserOptionType] = tuple(UserOptionType)
    ) -> list[UserOption]:
        body = {"userid": userid, "type": [int(t) for t in types]}
        payload = await self._call("useroption/get", body=body)
        return parse_model(UserOptions, payload, "useroption/get").option

    async def useroption_update(
        self, userid: str, options: Sequence[UserOptionSetting] | Mapping[UserOptionType, str]
    ) -> None:
        """Set options; type 4 is read-only and refused before any call (ValueError)."""
        settings = (
            [UserOptionSetting(type=t, value=v) for t, v in options.items()]
            if isinstance(options, Mapping)
            else list(options)
        )
        if not settings:
            raise ValueError("useroption/update needs at least one option")
        body = {"userid": userid, "option": [{"type": int(s.type), "value": s.value} for s in settings]}
        await self._call("useroption/update", body=body)

    # ------------------------------------------------------------------ new-mail reminder

    async def mail_newcount(
        self, userid: str, begin_date: DateLike | None = None, end_date: DateLike | None = None
    ) -> NewCount:
        """Unread mail count of one member; dates are optional (production clients send only userid)."""
        params: dict[str, Any] = {"userid": userid}
        if begin_date is not None or end_date is not None:
            if begin_date is None or end_date is None:
                raise ValueError("mail/newcount takes both begin_date and end_date, or neither")
            first, last = date_range(begin_date, end_date)
            params |= {"begin_date": first.isoformat(), "end_date": last.isoformat()}
        payload = await self._call("mail/newcount", params=params)
        return parse_model(NewCount, payload, "mail/newcount")

    # ------------------------------------------------------------------ system log

    async def _mailstatus(self, domain: str, begin: date, end: date) -> MailStatusSummary:
        body = {"domain": domain, **_dates(begin, end)}
        payload = await self._call("log/mailstatus", body=body)
        return parse_model(MailStatusSummary, payload, "log/mailstatus")

    async def log_mailstatus(self, domain: str, begin_date: DateLike, end_date: DateLike) -> MailStatusSummary:
        """Sent/received totals of `domain`; long ranges are queried in chunks and summed."""
        parts = await self._chunked(begin_date, end_date, lambda a, b: self._mailstatus(domain, a, b))
        return MailStatusSummary(sendsum=sum(p.sendsum for p in parts), recvsum=sum(p.recvsum for p in parts))

    def mailstatus_days(
        self, domain: str, begin_date: DateLike, end_date: DateLike
    ) -> AsyncIterator[LogDay[MailStatusSummary]]:
        return self._per_day(begin_date, end_date, lambda a, b: self._mailstatus(domain, a, b))

    async def _mail_payload(
        self, begin: date, end: date, mailtype: MailType, userid: str | None, subject: str | None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {**_dates(begin, end), "mailtype": int(mailtype)}
        if userid is not None:
            body["userid"] = userid
        if subject is not None:
            body["subject"] = subject
        return await self._call("log/mail", body=body)

    async def _mail(
        self, begin: date, end: date, mailtype: MailType, userid: str | None, subject: str | None
    ) -> list[MailLogRecord]:
        payload = await self._mail_payload(begin, end, mailtype, userid, subject)
        return parse_model(MailLog, payload, "log/mail").records

    async def log_mail(
        self,
        begin_date: DateLike,
        end_date: DateLike,
        *,
        mailtype: MailType = MailType.ALL,
        userid: str | None = None,
        subject: str | None = None,
    ) -> list[MailLogRecord]:
        parts = await self._chunked(
            begin_date, end_date, lambda a, b: self._mail(a, b, mailtype, userid, subject)
        )
        return _concat(parts)

    async def log_mail_rows(
        self, begin_date: DateLike, end_date: DateLike, *, mailtype: MailType = MailType.ALL
    ) -> list[dict[str, Any]]:
        """log_mail's records as validated JSON objects, exactly as the API returned them (what the pollers
        emit; no model per record). Same request, pacing, retries and ResponseFormatError as log_mail."""

        async def fetch(a: date, b: date) -> list[dict[str, Any]]:
            return MAIL_ROWS(await self._mail_payload(a, b, mailtype, None, None), "log/mail")

        return _concat(await self._chunked(begin_date, end_date, fetch))

    def mail_log_days(
        self,
        begin_date: DateLike,
        end_date: DateLike,
        *,
        mailtype: MailType = MailType.ALL,
        userid: str | None = None,
        subject: str | None = None,
    ) -> AsyncIterator[LogDay[list[MailLogRecord]]]:
        return self._per_day(begin_date, end_date, lambda a, b: self._mail(a, b, mailtype, userid, subject))

    async def _login(self, userid: str, begin: date, end: date) -> list[LoginLogRecord]:
        payload = await self._call("log/login", body={"userid": userid, **_dates(begin, end)})
        return parse_model(LoginLog, payload, "log/login").records

    async def _login_rows(self, userid: str, begin: date, end: date) -> list[dict[str, Any]]:
        payload = await self._call("log/login", body={"userid": userid, **_dates(begin, end)})
        return LOGIN_ROWS(payload, "log/login")

    async def log_login(self, userid: str, begin_date: DateLike, end_date: DateLike) -> list[LoginLogRecord]:
        return _concat(await self._chunked(begin_date, end_date, lambda a, b: self._login(userid, a, b)))

    async def log_login_rows(self, userid: str, begin_date: DateLike, end_date: DateLike) -> list[dict[str, Any]]:
        """log_login's records as validated JSON objects (see log_mail_rows)."""
        return _concat(await self._chunked(begin_date, end_date, lambda a, b: self._login_rows(userid, a, b)))

    def login_log_days(
        self, userid: str, begin_date: DateLike, end_date: DateLike
    ) -> AsyncIterator[LogDay[list[LoginLogRecord]]]:
        return self._per_day(begin_date, end_date, lambda a, b: self._login(userid, a, b))

    async def _batchjob(self, begin: date, end: date) -> list[BatchJobLogRecord]:
        payload = await self._call("log/batchjob", body=_dates(begin, end))
        return parse_model(BatchJobLog, payload, "log/batchjob").records

    async def _batchjob_rows(self, begin: date, end: date) -> list[dict[str, Any]]:
        return BATCHJOB_ROWS(await self._call("log/batchjob", body=_dates(begin, end)), "log/batchjob")

    async def log_batchjob(self, begin_date: DateLike, end_date: DateLike) -> list[BatchJobLogRecord]:
        return _concat(await self._chunked(begin_date, end_date, self._batchjob))

    async def log_batchjob_rows(self, begin_date: DateLike, end_date: DateLike) -> list[dict[str, Any]]:
        """log_batchjob's records as validated JSON objects (see log_mail_rows)."""
        return _concat(await self._chunked(begin_date, end_date, self._batchjob_rows))

    def batchjob_log_days(
        self, begin_date: DateLike, end_date: DateLike
    ) -> AsyncIterator[LogDay[list[BatchJobLogRecord]]]:
        return self._per_day(begin_date, end_date, self._batchjob)

    async def _operation(self, begin: date, end: date, category: OperationCategory) -> list[OperationLogRecord]:
        body = {"type": int(category), **_dates(begin, end)}
        payload = await self._call("log/operation", body=body)
        return parse_model(OperationLog, payload, "log/operation").records

    async def _operation_rows(self, begin: date, end: date, category: OperationCategory) -> list[dict[str, Any]]:
        payload = await self._call("log/operation", body={"type": int(category), **_dates(begin, end)})
        return OPERATION_ROWS(payload, "log/operation")

    async def log_operation_rows(
        self, begin_date: DateLike, end_date: DateLike, *, category: OperationCategory = OperationCategory.ALL
    ) -> list[dict[str, Any]]:
        """log_operation's records as validated JSON objects (see log_mail_rows)."""
        category = OperationCategory(category)
        return _concat(
            await self._chunked(begin_date, end_date, lambda a, b: self._operation_rows(a, b, category)))

    async def log_operation(
        self, begin_date: DateLike, end_date: DateLike, *, category: OperationCategory = OperationCategory.ALL
    ) -> list[OperationLogRecord]:
        category = OperationCategory(category)
        return _concat(await self._chunked(begin_date, end_date, lambda a, b: self._operation(a, b, category)))

    def operation_log_days(
        self, begin_date: DateLike, end_date: DateLike, *, category: OperationCategory = OperationCategory.ALL
    ) -> AsyncIterator[LogDay[list[OperationLogRecord]]]:
        category = OperationCategory(category)
        return self._per_day(begin_date, end_date, lambda a, b: self._operation(a, b, category))

    # ------------------------------------------------------------------ SSO

    async def get_login_url(self, userid: str) -> LoginUrl:
        """A one-time login URL for `userid` (valid `expires_in` seconds, 300 in practice)."""
        payload = await self._call("service/get_login_url", params={"userid": userid})
        return parse_model(LoginUrl, payload, "service/get_login_url")


def _dates(begin: date, end: date) -> dict[str, str]:
    return {"begin_date": begin.isoformat(), "end_date": end.isoformat()}


def _concat(parts: Iterable[list[T]]) -> list[T]:
    return [item for part in parts for item in part]


def _error_label(error: ExmailError) -> str:
    if isinstance(error, TransportError):
        return error.reason
    if isinstance(error, ResponseFormatError):
        return "bad_response"
    if error.errcode is None:
        return "http_429" if isinstance(error, RateLimited) else "client"
    return str(error.errcode)


def _mask_values(error: ExmailError, values: Iterable[str]) -> ExmailError:
    """`error` with any live secret/token value the server echoed replaced by the redaction marker."""
    errmsg = error.errmsg
    for value in values:
        if value and value in errmsg:
            errmsg = errmsg.replace(value, REDACTED)
    if errmsg == error.errmsg:
        return error
    error.errmsg = errmsg
    error.args = (error.errcode, errmsg, error.endpoint)
    return error
