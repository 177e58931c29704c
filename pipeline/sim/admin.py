"""The /_sim/ admin API: ground truth, state dumps, clock control, fault switches, token expiry, callback
registration, day generation, mail injection and what the WeCom/OA surfaces received."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from pipeline import streams
from pipeline.sim._agreement import check_agreement
from pipeline.sim._state import date_range
from pipeline.sim._surfaces import dump_recorder
from pipeline.sim._truth import LOG_KINDS, log_truth, mail_status_truth
from pipeline.sim.config import APPS, CallbackConfig, Choices, FaultRule

if TYPE_CHECKING:
    from pipeline.sim._server import Simulator

TRUTH_KINDS = (*LOG_KINDS, "mail_status", "new_mail", "pushes", "sso")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS), status=status,
                        content_type="application/json", charset="utf-8")


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=orjson.dumps({"error": message}).decode(), content_type="application/json")


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _bad("body must be a JSON object")
    return body


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())


def _timestamp(value: Any, clock_tz: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(f"time {value!r} is neither Unix seconds nor ISO 8601") from None
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=clock_tz)
        return dt.timestamp()
    raise _bad("time must be Unix seconds or an ISO 8601 string")


def _dates_from_query(request: web.Request, default: list[str]) -> list[str]:
    q = request.query
    try:
        if "date" in q:
            return date_range(q["date"], q["date"])
        if "begin_date" in q or "end_date" in q:
            return date_range(q.get("begin_date", q.get("end_date", "")), q.get("end_date", q.get("begin_date", "")))
    except ValueError:
        raise _bad("dates must be YYYY-MM-DD") from None
    return default


def admin_routes(sim: Simulator) -> web.RouteTableDef:
    """Route table mounted at /_sim/ on the simulator's app."""
    corp = sim.corp
    routes = web.RouteTableDef()

    @routes.get("/_sim/health")
    async def health(request: web.Request) -> web.Response:
        return _json({"ok": True, "corp_id": corp.corp_id, "clock": sim.clock.state()})

    @routes.get("/_sim/credentials")
    async def credentials(request: web.Request) -> web.Response:
        return _json(sim.credentials)

    @routes.get("/_sim/stats")
    async def stats(request: web.Request) -> web.Response:
        return _json({"calls": sim.api.calls, "generated": sim.generator.counts, "tokens": sim.tokens.stats(),
                      "faults_fired": sim.faults.fired,
                      "log_records": {k: corp.logs.count(k) for k in LOG_KINDS},
                      "pushes": len(corp.pusher.records), "surfaces": sorted(sim.surfaces)})

    # --- clock

    @routes.get("/_sim/clock")
    async def clock_get(request: web.Request) -> web.Response:
        return _json(sim.clock.state())

    @routes.post("/_sim/clock/{action}")
    async def clock_set(request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body = await _body(request)
        try:
            if action == "set":
                sim.clock.set(_timestamp(body.get("time"), sim.clock.tz))
            elif action == "advance":
                seconds = body.get("seconds")
                if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                    raise _bad("advance needs {\"seconds\": <non-negative number>}")
                sim.clock.advance(float(seconds))
            elif action == "pause":
                sim.clock.pause()
            elif action == "resume":
                sim.clock.resume()
            elif action == "speed":
                speed = body.get("speed")
                if not isinstance(speed, int | float) or isinstance(speed, bool) or speed < 0:
                    raise _bad("speed needs {\"speed\": <non-negative number>}")
                sim.clock.set_speed(float(speed))
            else:
                raise web.HTTPNotFound(text=f"unknown clock action {action!r}; use set/advance/pause/resume/speed")
        except ValueError as exc:
            raise _bad(str(exc)) from None
        sim.tick()
        return _json(sim.clock.state())

    # --- ground truth

    @routes.get("/_sim/truth/{kind}")
    async def truth(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind not in TRUTH_KINDS:
            raise web.HTTPNotFound(text=f"unknown kind {kind!r}; kinds are {', '.join(TRUTH_KINDS)}")
        sim.tick()
        now = sim.clock.now()
        visible_only = request.query.get("visible", "all") == "visible"
        if kind in LOG_KINDS:
            dates = _dates_from_query(request, corp.logs.dates(kind))
            records = log_truth(corp, kind, dates, now, visible_only, sim.config.choices.log_order,
                                request.query.get("userid"))
            return _json({"kind": kind, "corp_id": corp.corp_id, "now": now, "records": records})
        if kind == "mail_status":
            dates = _dates_from_query(request, corp.logs.dates("mail_log"))
            return _json({"kind": kind, "corp_id": corp.corp_id, "records": mail_status_truth(corp, dates, now)})
        if kind == "new_mail":
            userid = request.query.get("userid")
            rows = [r for r in corp.new_mail_truth if userid is None or r["userid"] == userid.lower()]
            return _json({"kind": kind, "corp_id": corp.corp_id, "records": rows})
        if kind == "pushes":
            return _json({"kind": kind, "records": corp.pusher.dump()})
        return _json({"kind": kind, "records": corp.sso_logins})

    @routes.get("/_sim/agreement")
    async def agreement(request: web.Request) -> web.Response:
        sim.tick()
        return _json(check_agreement(corp, sim.clock.now()))

    # --- state dumps

    @routes.get("/_sim/state/directory")
    async def directory(request: web.Request) -> web.Response:
        return _json({"corp_id": corp.corp_id, **corp.directory.dump()})

    @routes.get("/_sim/state/options")
    async def options(request: web.Request) -> web.Response:
        return _json({u: {str(t): v for t, v in o.items()} for u, o in corp.directory.options.items()})

    @routes.get("/_sim/state/mailboxes")
    async def mailboxes(request: web.Request) -> web.Response:
        now = sim.clock.now()
        userid = request.query.get("userid")
        users = [userid.lower()] if userid else sorted(corp.mailboxes.mails)
        return _json({u: {"unread": corp.mailboxes.unread(u, now),
                          "mails": [vars(m) for m in corp.mailboxes.mails.get(u, []) if m.time <= now]}
                      for u in users})

    @routes.get("/_sim/state/company")
    async def company(request: web.Request) -> web.Response:
        return _json(corp.company.summary())

    # --- behaviour choices

    @routes.get("/_sim/choices")
    async def choices_get(request: web.Request) -> web.Response:
        return _json(sim.config.choices.model_dump())

    @routes.post("/_sim/choices")
    async def choices_set(request: web.Request) -> web.Response:
        patch = await _body(request)
        try:
            updated = Choices.model_validate({**sim.config.choices.model_dump(), **patch})
        except ValidationError as exc:
            raise _bad(_validation_message(exc)) from None
        sim.apply_choices(updated)
        return _json(sim.config.choices.model_dump())

    # --- faults and tokens

    @routes.get("/_sim/faults")
    async def faults_get(request: web.Request) -> web.Response:
        return _json(sim.faults.dump())

    @routes.post("/_sim/faults")
    async def faults_add(request: web.Request) -> web.Response:
        body = await _body(request)
        items = body.get("rules") if "rules" in body else [body]
        if not isinstance(items, list):
            raise _bad("rules must be a list")
        if "seed" in body and isinstance(body["seed"], int):
            sim.faults.reseed(body["seed"])
        try:
            rules = [FaultRule.model_validate(item) for item in items]
        except ValidationError as exc:
            raise _bad(_validation_message(exc)) from None
        return _json({"added": [sim.faults.add(r).model_dump() for r in rules]}, status=201)

    @routes.delete("/_sim/faults")
    async def faults_clear(request: web.Request) -> web.Response:
        sim.faults.clear()
        return _json({"rules": []})

    @routes.delete("/_sim/faults/{rule_id}")
    async def faults_remove(request: web.Request) -> web.Response:
        if not sim.faults.remove(request.match_info["rule_id"]):
            raise web.HTTPNotFound(text="no such fault rule")
        return _json(sim.faults.dump())

    @routes.get("/_sim/tokens")
    async def tokens_get(request: web.Request) -> web.Response:
        return _json(sim.tokens.stats())

    @routes.post("/_sim/tokens/expire")
    async def tokens_expire(request: web.Request) -> web.Response:
        body = await _body(request)
        mode = body.get("mode", "expire")
        app = body.get("app")
        if mode not in ("expire", "revoke") or (app is not None and app not in APPS):
            raise _bad(f"mode must be expire|revoke and app one of {list(APPS)}")
        return _json({"affected": sim.tokens.expire_all(mode, app), "mode": mode})

    # --- callback push

    @routes.get("/_sim/callback")
    async def callback_get(request: web.Request) -> web.Response:
        cfg = corp.pusher.config
        return _json({"registered": cfg is not None,
                      "config": cfg.model_dump(exclude={"token", "encoding_aes_key"}) if cfg else None})

    @routes.post("/_sim/callback")
    async def callback_set(request: web.Request) -> web.Response:
        body = await _body(request)
        verify = bool(body.pop("verify", False))
        try:
            cfg = CallbackConfig.model_validate(body)
        except ValidationError as exc:
            raise _bad(_validation_message(exc)) from None
        if verify:
            result = await corp.pusher.verify_url(cfg)
            if not result["ok"]:
                return _json({"errcode": 40057, "errmsg": "invalid callback url", "verification": result})
        corp.pusher.configure(cfg)
        return _json({"errcode": 0, "errmsg": "ok", "registered": True})

    @routes.delete("/_sim/callback")
    async def callback_delete(request: web.Request) -> web.Response:
        corp.pusher.configure(None)
        return _json({"registered": False})

    @routes.post("/_sim/callback/verify")
    async def callback_verify(request: web.Request) -> web.Response:
        body = await _body(request)
        cfg = None
        if body:
            try:
                cfg = CallbackConfig.model_validate(body)
            except ValidationError as exc:
                raise _bad(_validation_message(exc)) from None
        return _json(await corp.pusher.verify_url(cfg))

    @routes.get("/_sim/pushes")
    async def pushes(request: web.Request) -> web.Response:
        return _json({"records": corp.pusher.dump()})

    @routes.post("/_sim/pushes/wait")
    async def pushes_wait(request: web.Request) -> web.Response:
        body = await _body(request)
        timeout = body.get("timeout", 10.0)
        await corp.pusher.drain(float(timeout) if isinstance(timeout, int | float) else 10.0)
        return _json({"records": corp.pusher.dump()})

    # --- generation and injection

    @routes.post("/_sim/generate")
    async def generate(request: web.Request) -> web.Response:
        body = await _body(request)
        day = body.get("day") or sim.clock.date_of(sim.clock.now())
        record_counts = {s.sim.day_param for s in streams.log_kinds() if s.sim is not None}
        allowed = {*record_counts, "seed", "new_mail", "late_fraction"}
        unknown = sorted(set(body) - allowed - {"day"})
        if unknown:
            raise _bad(f"unknown field(s) {unknown}; allowed: day, {', '.join(sorted(allowed))}")
        try:
            date_range(day, day)
            kwargs = {k: body[k] for k in allowed if k in body}
            for k in record_counts:
                if k in kwargs and (not isinstance(kwargs[k], int) or kwargs[k] < 0 or kwargs[k] > 1_000_000):
                    raise _bad(f"{k} must be an integer 0..1000000")
            counts = sim.generator.generate_day(day, **kwargs)
        except (ValueError, TypeError) as exc:
            raise _bad(str(exc)) from None
        sim.tick()
        return _json({"day": day, "generated": counts})

    @routes.post("/_sim/logs")
    async def inject_log(request: web.Request) -> web.Response:
        body = await _body(request)
        kind, record = body.get("kind"), body.get("record")
        if kind not in LOG_KINDS or not isinstance(record, dict) or not isinstance(record.get("time"), int):
            raise _bad(f"need {{kind: one of {LOG_KINDS}, record: {{time: int, ...}}, visible_at?, userid?}}")
        per_user = bool((query := streams.get(kind).log) and query.per_user)
        if per_user and not isinstance(body.get("userid"), str):
            raise _bad(f"{kind} records need a userid")
        userid = body["userid"].lower() if per_user else None
        entry = corp.logs.add(kind, record, body.get("visible_at"), userid=userid, origin="injected")
        return _json({"date": entry.date, "time": entry.time, "visible_at": entry.visible_at}, status=201)

    @routes.post("/_sim/mail/deliver")
    async def deliver(request: web.Request) -> web.Response:
        body = await _body(request)
        userid = str(body.get("userid", "")).lower()
        if userid not in corp.directory.users:
            raise _bad("userid must be an existing mailbox")
        now = int(sim.clock.now())
        at = int(_timestamp(body["time"], sim.clock.tz)) if "time" in body else now
        sender = str(body.get("from", f"partner@{corp.company.partner_domains[0]}"))
        mail = corp.deliver(userid, f'"{sender}"<{sender}>', str(body.get("subject", "Test mail")), at,
                            push=bool(body.get("push", True)))
        if body.get("log", True):
            corp.logs.add("mail_log", {"mailtype": 2, "sender": sender, "receiver": userid,
                                       "subject": mail.subject, "time": at, "status": 13}, origin="injected")
        sim.tick()
        return _json({"mail_id": mail.mail_id, "time": mail.time, "unread": corp.mailboxes.unread(userid, now)},
                     status=201)

    @routes.post("/_sim/mail/read")
    async def read(request: web.Request) -> web.Response:
        body = await _body(request)
        userid = str(body.get("userid", "")).lower()
        now = int(sim.clock.now())
        mails = [m for m in corp.mailboxes.mails.get(userid, []) if m.time <= now
                 and (m.read_at is None or m.read_at > now)]
        if body.get("mail_id"):
            mails = [m for m in mails if m.mail_id == body["mail_id"]]
        for m in mails:
            corp.mark_read(m, now, push=bool(body.get("push", True)))
        sim.tick()
        return _json({"read": len(mails), "unread": corp.mailboxes.unread(userid, now)})

    # --- other surfaces

    @routes.get("/_sim/received")
    async def received_all(request: web.Request) -> web.Response:
        return _json({name: dump_recorder(s.recorder) for name, s in sim.surfaces.items()})

    @routes.get("/_sim/received/{surface}")
    async def received(request: web.Request) -> web.Response:
        surface = sim.surfaces.get(request.match_info["surface"])
        if surface is None:
            raise web.HTTPNotFound(text=f"surface not mounted; mounted: {sorted(sim.surfaces)}")
        return _json(surface.received())

    @routes.post("/_sim/tick")
    async def tick(request: web.Request) -> web.Response:
        sim.tick()
        await asyncio.sleep(0)
        return _json(sim.clock.state())

    return routes
