"""Traffic generator: mail flows, logins, admin operations and batch jobs on the simulated clock.

Each simulated minute is generated from its own RNG (seed, minute), so the content of a minute depends only
on the seed and the directory, never on how fast or in what steps the clock moved. Log records get a
visibility time (most at once, some minutes to hours late, a few across midnight); arrivals of delivered
mail land in mailboxes and drive newcount and callback pushes.
"""

from __future__ import annotations

import base64
import math
import random
from collections.abc import Callable
from typing import Any

from pipeline import streams
from pipeline.sim._company import GIVEN, SURNAMES, _mobile
from pipeline.sim._corp import CorpState
from pipeline.sim._errors import ApiError
from pipeline.sim._state import ROOT_ID
from pipeline.sim.config import TrafficConfig
from pipeline.streams import SimHook

HOURLY = [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.5, 2.2, 2.4, 2.2, 1.4, 1.8, 2.3, 2.4, 2.2, 1.8, 1.2, 0.9,
          0.8, 0.7, 0.5, 0.3]
_HOURLY_MEAN = sum(HOURLY) / len(HOURLY)

SUBJECTS = [
    "季度销售报告", "会议纪要：产品评审", "Re: 合同条款确认", "发票已开具，请查收", "项目进度周报", "Quarterly report",
    "Re: Invoice #{n}", "Meeting notes {n}", "面试安排通知", "系统上线通知", "报销审批", "Fwd: 客户反馈汇总",
    "Action required: password expiry", "Shipment {n} dispatched", "Purchase order PO-{n}", "投诉：订单{n}未发货",
    "咨询：产品价格", "Welcome aboard!", "年会筹备", "代码评审请求 #{n}", "服务器告警汇总", "Offer letter",
]
SPAM_SUBJECTS = ["恭喜中奖，请点击领取", "Your account will be suspended", "发票代开", "Verify your mailbox now"]

# (status, weight)
SENT_STATUS = [(3, 0.86), (2, 0.04), (4, 0.04), (1, 0.03), (0, 0.03)]
RECV_STATUS = [(13, 0.82), (14, 0.1), (12, 0.05), (11, 0.03)]
LOGIN_TYPES = [(1, 0.3), (2, 0.3), (3, 0.15), (4, 0.2), (5, 0.05)]
# Expected admin operations per day of each type at the default 40 a day (a few hundred staff). Rare events are
# rare: cancelling a domain about once in three years, re-fetching the API key once a year (see README.md).
OPERATION_RATES: dict[int, float] = {
    2: 0.5, 3: 1 / 365, 4: 1 / 1000, 5: 1 / 365, 6: 1 / 1500, 7: 2 / 365, 8: 2 / 365, 9: 1 / 30, 10: 1 / 30,
    11: 0.2, 12: 0.05, 13: 1 / 365, 14: 0.2, 15: 0.05, 16: 1 / 365, 17: 0.05, 18: 0.02,
    19: 1.5, 20: 1.0, 21: 0.3, 22: 0.5, 23: 4.0, 24: 0.3, 25: 0.02, 26: 2 / 365, 27: 1 / 365,
    28: 0.1, 29: 0.05, 30: 0.2, 31: 0.05, 32: 0.1, 33: 0.03, 34: 0.5,
    35: 1 / 365, 36: 0.02, 37: 2 / 365, 38: 2 / 365, 39: 1 / 730, 40: 1 / 365, 41: 1 / 1500,
}
OPERATION_RATES[1] = 40.0 - sum(OPERATION_RATES.values())  # the admin console login fills the rest
# generate_day's mix for tests: every type 1..41 occurs (coverage, not realism)
COVERAGE_WEIGHTS = {t: 1.0 for t in range(1, 42)}
COVERAGE_WEIGHTS.update({1: 25.0, 2: 3.0, 19: 6.0, 20: 3.0, 21: 2.0, 22: 3.0, 23: 8.0, 24: 2.0, 28: 2.0, 30: 2.0,
                         32: 2.0, 34: 3.0})
# operation types whose records change the address book: the generator performs them on the directory
DIRECTORY_OPS = frozenset({19, 20, 21, 22, 23, 24, 25, 28, 29, 30, 31, 32, 33, 34})
ADMINISTRATOR = "administrator"  # operator name in the doc examples (the console's super-admin)
NEW_DEPARTMENTS = ["项目组", "专项小组", "创新实验室", "区域办事处", "客户成功组", "数据组", "合规组"]
BATCH_TYPES = [(t, w) for t, w in zip(range(10), [1.0, 3.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0, 1.0, 2.0], strict=True)]
BATCH_STATUS = [(0, 0.85), (1, 0.1), (2, 0.05)]
APP_NAMES = ["通讯录管理", "单点登录", "新邮件提醒", "系统日志", "功能设置"]


def _pick(rng: random.Random, weighted: list[tuple[int, float]]) -> int:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class _View:
    """The generator's view of who is active, ahead of the directory by the changes it has planned but not yet
    applied (they apply when the clock reaches their time). Mail and logins pick users from it."""

    def __init__(self, corp: CorpState) -> None:
        users = corp.directory.users.values()
        self.active = [u.userid for u in users if u.enable]
        self.disabled = [u.userid for u in users if not u.enable]
        self.version = corp.directory_version

    def enable(self, userid: str) -> None:
        if userid in self.disabled:
            self.disabled.remove(userid)
        if userid not in self.active:
            self.active.append(userid)

    def disable(self, userid: str) -> None:
        if userid in self.active:
            self.active.remove(userid)
        if userid not in self.disabled:
            self.disabled.append(userid)

    def remove(self, userid: str) -> None:
        for pool in (self.active, self.disabled):
            if userid in pool:
                pool.remove(userid)


# (kind, hook) of every catalog kind the simulator generates, in catalog order
_HOOKS: tuple[tuple[str, SimHook], ...] = tuple((s.kind, s.sim) for s in streams.log_kinds() if s.sim is not None)
# generate_day's own arguments: mail, logins and operations of a day are made to agree with each other
_DAY_SPECIAL = ("mail_records", "login_records", "operation_records")


class TrafficGenerator:
    def __init__(self, corp: CorpState, traffic: TrafficConfig, seed: int) -> None:
        self.corp = corp
        self.traffic = traffic
        self.seed = seed
        self.watermark: int | None = None
        self.push_from: float = 0.0
        self.counts: dict[str, int] = {**{kind: 0 for kind, _ in _HOOKS},
                                       "mails_delivered": 0, "directory_changes": 0, "operations_skipped": 0}
        self._view: _View | None = None
        self._pending: set[str] = set()  # users, departments and groups a planned change still has to touch
        self._deleted: dict[str, dict[str, Any]] = {}  # deleted users' create bodies (type 20 remark 1 restores)
        self._serial = 0
        rates = {**OPERATION_RATES, **{int(k): v for k, v in traffic.operation_rates.items()}}
        self._realistic = (list(rates), list(rates.values()))
        self._coverage = (list(COVERAGE_WEIGHTS), list(COVERAGE_WEIGHTS.values()))

    # --- background generation

    def start_at(self, start: float) -> None:
        """Generate from `traffic.history_hours` before `start`; pushes only for events from `start` on."""
        first = int((start - self.traffic.history_hours * 3600) // 60)
        self.watermark = first - 1
        self.push_from = start

    def catch_up(self, now: float) -> int:
        """Generate every minute that has started by `now`; returns how many minutes were generated."""
        if not self.traffic.enabled:
            return 0
        if self.watermark is None:
            self.start_at(now)
        assert self.watermark is not None
        target = int(now // 60)
        done = 0
        while self.watermark < target:
            self.watermark += 1
            # the changes planned for earlier minutes happen first, so this minute starts from them
            self.corp.process_due(self.watermark * 60 - 1)
            self.generate_minute(self.watermark)
            done += 1
        return done

    def view(self) -> _View:
        if self._view is None or self._view.version != self.corp.directory_version:
            self._view = _View(self.corp)
        return self._view

    def generate_minute(self, minute: int) -> None:
        rng = random.Random(f"traffic:{self.seed}:{minute}")
        t0 = minute * 60
        hour = self.corp.clock.local(t0).hour
        factor = HOURLY[hour] / _HOURLY_MEAN / 1440.0
        view = self.view()
        n = len(view.active)
        push = t0 >= self.push_from
        slots: list[tuple[int, int]] = []
        for i, (kind, hook) in enumerate(_HOOKS):  # catalog order: the draws of a seed stay the same
            lam = self.per_day(kind, hook) * (n if hook.per_user else 1) * factor
            slots.extend((t0 + rng.randrange(60), i) for _ in range(_poisson(rng, lam)))
        slots.sort()  # in time order, so a mail after a change within the minute already sees it
        for t, i in slots:
            getattr(self, _HOOKS[i][1].make)(rng, t, view, push)

    def per_day(self, kind: str, hook: SimHook) -> float:
        """Records of `kind` a simulated day: the traffic config's own field, its `rates`, or the catalog's."""
        if hook.rate_field is not None:
            return float(getattr(self.traffic, hook.rate_field))
        return self.traffic.rates.get(kind, hook.per_day)

    # the record makers the stream catalog names (SimHook.make): one event of the kind at t
    def traffic_mail(self, rng: random.Random, t: int, view: _View, push: bool) -> None:
        self.mail_flow(rng, t, view.active, push)

    def traffic_login(self, rng: random.Random, t: int, view: _View, push: bool) -> None:
        self.login(rng, t, view.active)

    def traffic_operation(self, rng: random.Random, t: int, view: _View, push: bool) -> None:
        self.operation(rng, t, view, self._realistic)

    # --- whole days for tests

    def generate_day(self, day: str, mail_records: int = 0, login_records: int = 0, operation_records: int = 0,
                     seed: int | None = None, new_mail: bool = False, late_fraction: float | None = None,
                     **records: int) -> dict[str, int]:
        """Add exactly the requested number of records of each kind, spread over `day` (local date); `records`
        holds the counts of the other catalog kinds by their `SimHook.day_param` (e.g. batchjob_records).

        Operations use the coverage mix (every type 1..41 occurs). Address-book changes happen at their time;
        mail and logins of the day pick from the users no change of this call touches, so the three logs and
        the directory agree."""
        rng = random.Random(f"day:{self.seed if seed is None else seed}:{day}")
        start = self.corp.clock.day_start(day)
        saved = self.traffic.late_fraction
        if late_fraction is not None:
            self.traffic = self.traffic.model_copy(update={"late_fraction": late_fraction})
        try:
            before = dict(self.counts)
            view = self.view()
            stable_before = list(view.active)
            touched: set[str] = set()
            for t in sorted(start + rng.randrange(86400) for _ in range(operation_records)):
                self.operation(rng, t, self.view(), self._coverage, touched)
            users = [u for u in stable_before if u not in touched]
            made = 0
            while made < mail_records:
                made += self.mail_flow(rng, start + rng.randrange(86400), users, new_mail,
                                       limit=mail_records - made, deliver=new_mail)
            for _ in range(login_records):
                self.login(rng, start + rng.randrange(86400), users)
            for _kind, hook in _HOOKS:
                if hook.day_param in _DAY_SPECIAL:
                    continue
                for _ in range(records.pop(hook.day_param, 0)):
                    getattr(self, hook.make)(rng, start + rng.randrange(86400), self.view(), False)
            if records:
                raise ValueError(f"unknown record count(s) {sorted(records)}")
        finally:
            self.traffic = self.traffic.model_copy(update={"late_fraction": saved})
        return {k: self.counts[k] - before[k] for k in self.counts}

    # --- record makers

    def _visible_at(self, rng: random.Random, t: int) -> int:
        roll = rng.random()
        if roll < self.traffic.midnight_fraction:
            local = self.corp.clock.local(t)
            next_midnight = self.corp.clock.day_start(local.strftime("%Y-%m-%d")) + 86400
            return next_midnight + rng.randrange(60, 5400)
        if roll < self.traffic.midnight_fraction + self.traffic.late_fraction:
            if rng.random() < 0.6:
                return t + rng.randrange(60, 1800)
            return t + rng.randrange(1800, 4 * 3600)
        return t

    def _add(self, rng: random.Random, kind: str, record: dict[str, Any], userid: str | None = None,
             origin: str = "traffic") -> None:
        self.corp.logs.add(kind, record, self._visible_at(rng, int(record["time"])), userid=userid, origin=origin)
        self.counts[kind] += 1

    def _subject(self, rng: random.Random, spam: bool = False) -> str:
        subject = rng.choice(SPAM_SUBJECTS if spam else SUBJECTS)
        return subject.replace("{n}", str(rng.randrange(1000, 99999)))

    def _mail_id(self, rng: random.Random) -> str:
        return base64.b64encode(rng.getrandbits(256).to_bytes(32, "big")).decode()

    def _display(self, address: str) -> str:
        return f'"{address}"<{address}>'

    def mail_flow(self, rng: random.Random, t: int, users: list[str], push: bool, limit: int | None = None,
                  deliver: bool = True) -> int:
        """One mail (one record per receiver and direction); returns the number of log records added."""
        if not users:
            return 0
        company = self.corp.company
        records: list[tuple[dict[str, Any], str | None]] = []
        roll = rng.random()
        if roll < 0.45:
            sender = rng.choice(users)
            receivers = rng.sample(users, k=min(len(users), rng.choice([1, 1, 1, 2, 3])))
            subject = self._subject(rng)
            for r in receivers:
                sent_status = _pick(rng, SENT_STATUS)
                records.append(({"mailtype": 1, "sender": sender, "receiver": r, "subject": subject, "time": t,
                                 "status": sent_status}, None))
                if sent_status == 3:
                    records.append(({"mailtype": 2, "sender": sender, "receiver": r, "subject": subject,
                                     "time": t + rng.randrange(0, 3), "status": _pick(rng, RECV_STATUS)}, r))
        elif roll < 0.7:
            sender = rng.choice(users + [company.service_mailbox] * 3)
            pool = company.external_contacts
            subject = self._subject(rng)
            for r in rng.sample(pool, k=rng.choice([1, 1, 2])):
                records.append(({"mailtype": 1, "sender": sender, "receiver": r, "subject": subject, "time": t,
                                 "status": _pick(rng, SENT_STATUS)}, None))
        elif roll < 0.95:
            to_service = roll >= 0.85
            partner = [c for c in company.external_contacts if c.split("@")[1] in company.partner_domains]
            customer = [c for c in company.external_contacts if c.split("@")[1] in company.customer_domains]
            sender = rng.choice(customer if to_service else (partner or company.external_contacts))
            receivers = [company.service_mailbox] if to_service else rng.sample(users, k=min(len(users), 1))
            subject = self._subject(rng)
            for r in receivers:
                records.append(({"mailtype": 2, "sender": sender, "receiver": r, "subject": subject, "time": t,
                                 "status": _pick(rng, RECV_STATUS)}, r))
        else:
            sender = f"{rng.choice(['promo', 'win', 'billing', 'security'])}@{rng.choice(company.spam_domains)}"
            r = rng.choice(users)
            records.append(({"mailtype": 2, "sender": sender, "receiver": r, "subject": self._subject(rng, True),
                             "time": t, "status": rng.choice([11, 12, 12])}, r))
        if limit is not None:
            records = records[:limit]
        for record, receiver in records:
            self._add(rng, "mail_log", record)
            if deliver and receiver is not None and record["status"] in (13, 14) and receiver.endswith(
                    "@" + company.domain):
                read_at = None
                if rng.random() < self.traffic.read_fraction:
                    read_at = int(record["time"]) + int(rng.expovariate(1 / 1800)) + 5
                self.corp.deliver(receiver, self._display(str(record["sender"])), str(record["subject"]),
                                  int(record["time"]), read_at, push=push, mail_id=self._mail_id(rng))
                self.counts["mails_delivered"] += 1
        return len(records)

    def login(self, rng: random.Random, t: int, users: list[str]) -> None:
        if not users:
            return
        company = self.corp.company
        userid = rng.choice(users)
        if rng.random() < self.traffic.unusual_login_fraction:
            ip = f"{rng.choice(company.unusual_prefixes)}.{rng.randrange(1, 255)}"
        else:
            ip = rng.choice(company.user_ips.get(userid) or company.office_ips)
        self._add(rng, "login_log", {"time": t, "ip": ip, "type": _pick(rng, LOGIN_TYPES)}, userid=userid)

    def _operator(self, rng: random.Random) -> str:
        if rng.random() < self.traffic.administrator_fraction:
            return ADMINISTRATOR
        return rng.choice(self.corp.company.admins)

    def operation(self, rng: random.Random, t: int, view: _View, mix: tuple[list[int], list[float]],
                  touched: set[str] | None = None) -> None:
        """One admin operation at `t`; an address-book type is performed on the directory at `t` (if it cannot
        be, e.g. nobody is disabled for "enable user", an edit or a console login is logged instead)."""
        op_type = rng.choices(*mix)[0]
        operator = self._operator(rng)
        if op_type in DIRECTORY_OPS:
            planned = self._plan(rng, op_type, view)
            if planned is None and op_type != 23:
                op_type, planned = 23, self._plan(rng, 23, view)
            if planned is not None:
                keys, action, meta = planned
                if touched is not None and op_type in (19, 20, 21, 22, 25):
                    touched.update(keys)
                meta.update(time=t, operator=operator, visible_at=self._visible_at(rng, t))
                self._apply_at(t, keys, action, meta)
                return
            op_type = 1
        record: dict[str, Any] = {"time": t, "operator": operator, "type": op_type,
                                  "operand": self._operand(rng, op_type, view.active)}
        self._add(rng, "operation_log", record)

    def _apply_at(self, t: int, keys: set[str], action: Callable[[], object], meta: dict[str, Any]) -> None:
        self._pending |= keys
        self.counts["operation_log"] += 1
        self.counts["directory_changes"] += 1

        def run() -> None:
            self.corp.op_meta = meta
            try:
                action()
            except ApiError:  # an API write got there first (e.g. deleted the user): nothing happened, no record
                self.counts["operation_log"] -= 1
                self.counts["operations_skipped"] += 1
            finally:
                self.corp.op_meta = None
                self._pending -= keys

        if t <= self.corp.clock.now():
            run()
        else:
            self.corp.schedule_call(t, run)

    def _free(self, candidates: list[str], protect: set[str] | None = None) -> list[str]:
        protect = protect or set()
        return [c for c in candidates if c not in self._pending and c not in protect]

    def _plan(self, rng: random.Random, op_type: int, view: _View
              ) -> tuple[set[str], Callable[[], object], dict[str, Any]] | None:
        """(keys it touches, the change, record overrides) for one address-book operation, or None."""
        d = self.corp.directory
        company = self.corp.company
        protected = {*company.admins, company.service_mailbox}
        if op_type in (19, 25) or (op_type == 20 and self._deleted and rng.random() < 0.05):
            if op_type == 20:
                userid = rng.choice(sorted(self._deleted))
                if userid in self._pending or userid in d.users or userid in d.aliases or userid in d.groups:
                    return None
                body = self._deleted.pop(userid)
                meta: dict[str, Any] = {"type": 20, "remark": "1"}
            else:
                new = self._new_user(rng)
                if new is None:
                    return None
                body, userid, meta = new, new["userid"], ({"type": 25} if op_type == 25 else {})
            view.enable(userid)
            return {userid}, lambda: d.create_user(body), meta
        if op_type == 20:
            pool = self._free(view.active + view.disabled, protected)
            if not pool:
                return None
            userid = rng.choice(pool)
            view.remove(userid)
            user = d.users.get(userid)
            if user is not None:
                self._deleted[userid] = {"userid": userid, "name": user.name, "department": list(user.department),
                                         "position": user.position, "mobile": user.mobile or _mobile(rng)}
            return {userid}, lambda: d.delete_user(userid), {}
        if op_type in (21, 22):
            pool = self._free(view.disabled if op_type == 21 else view.active, protected)
            pool = [u for u in pool if u in d.users]
            if not pool:
                return None
            userid = rng.choice(pool)
            (view.enable if op_type == 21 else view.disable)(userid)
            body = {"userid": userid, "enable": 1 if op_type == 21 else 0}
            return {userid}, lambda: d.update_user(body), {}
        if op_type in (23, 24):
            pool = [u for u in self._free(view.active) if u in d.users]
            if not pool:
                return None
            userid = rng.choice(pool)
            if op_type == 23:
                body = {"userid": userid, "mobile": _mobile(rng)}
            else:
                local = userid.split("@")[0].replace(".", "")
                alias = f"{local}{rng.randrange(10, 99)}@{company.domain}"
                taken = alias in d.users or alias in d.aliases or alias in d.groups or alias in self._pending
                body = {"userid": userid, "slaves": [] if d.users[userid].slaves or taken else [alias]}
                if not taken:
                    return {userid, alias}, lambda: d.update_user(body), {}
            return {userid}, lambda: d.update_user(body), {}
        if op_type == 28:
            parents = [x for x in d.departments.values() if str(x.id) not in self._pending and d.depth(x.id) < 4]
            parent = rng.choice(parents)
            self._serial += 1
            name = f"{rng.choice(NEW_DEPARTMENTS)}{self._serial}"
            if any(x.name == name for x in d.departments.values()):
                return None
            body = {"name": name, "parentid": parent.id, "order": 0}
            return {str(parent.id), name}, lambda: d.create_department(body), {}
        if op_type == 29:
            staffed = {i for u in d.users.values() for i in u.department}
            empty = [x for x in d.departments.values() if x.id != ROOT_ID and x.id not in staffed
                     and not d.children(x.id) and str(x.id) not in self._pending
                     and not any(str(c.id) in self._pending for c in d.children(x.parentid))]
            if not empty:
                return None
            dept = rng.choice(empty)
            return {str(dept.id), str(dept.parentid)}, lambda: d.delete_department(dept.id), {}
        if op_type in (30, 31):
            depts = [x for x in d.departments.values() if x.id != ROOT_ID and str(x.id) not in self._pending]
            if op_type == 31:
                depts = [x for x in depts if not d.children(x.id)]
            if not depts:
                return None
            dept = rng.choice(depts)
            if op_type == 30:
                body = {"id": dept.id, "order": rng.randrange(10001, 99999)}
                return {str(dept.id)}, lambda: d.update_department(body), {}
            targets = [x for x in d.departments.values() if x.id not in (dept.id, dept.parentid)
                       and d.depth(x.id) < 5 and str(x.id) not in self._pending
                       and all(c.name != dept.name for c in d.children(x.id))]
            if not targets:
                return None
            target = rng.choice(targets)
            body = {"id": dept.id, "parentid": target.id}
            return {str(dept.id), str(target.id)}, lambda: d.update_department(body), {}
        seeded = {g for g in self.corp.initial["groups"]}
        members = [u for u in self._free(view.active) if u in d.users]
        if op_type == 32:
            self._serial += 1
            groupid = f"team{self._serial}@{company.domain}"
            if not members or groupid in d.groups or groupid in d.users or groupid in d.aliases:
                return None
            body = {"groupid": groupid, "groupname": f"项目群组{self._serial}",
                    "userlist": rng.sample(members, k=min(len(members), rng.randrange(2, 8))),
                    "allow_type": rng.choice([0, 1, 2])}
            return {groupid}, lambda: d.create_group(body), {}
        groups = [g for g in d.groups if g not in self._pending]
        if op_type == 33:
            groups = [g for g in groups if g not in seeded]
        if not groups or not members:
            return None
        groupid = rng.choice(sorted(groups))
        if op_type == 33:
            return {groupid}, lambda: d.delete_group(groupid), {}
        group = d.groups[groupid]
        if group.userlist:
            body = {"groupid": groupid, "userlist": rng.sample(members, k=min(len(members), len(group.userlist)))}
        else:
            body = {"groupid": groupid, "groupname": group.groupname}
        return {groupid}, lambda: d.update_group(body, merge=False), {}

    def _new_user(self, rng: random.Random) -> dict[str, Any] | None:
        d = self.corp.directory
        surname, surname_py = rng.choice(SURNAMES)
        given, given_py, _ = rng.choice(GIVEN)
        local = f"{surname_py}.{given_py}"
        userid = f"{local}@{self.corp.company.domain}"
        n = 1
        while userid in d.users or userid in d.aliases or userid in d.groups or userid in self._pending \
                or userid in self._deleted:
            n += 1
            userid = f"{local}{n}@{self.corp.company.domain}"
        depts = [x.id for x in d.departments.values() if x.id != ROOT_ID and str(x.id) not in self._pending]
        if not depts:
            return None
        return {"userid": userid, "name": surname + given, "department": [rng.choice(depts)],
                "position": "新员工", "mobile": _mobile(rng), "password": f"Wel{rng.randrange(10**6):06d}come",
                "cpwd_login": 1}

    def _operand(self, rng: random.Random, op_type: int, users: list[str]) -> str:
        company = self.corp.company
        user: Callable[[], str] = lambda: rng.choice(users) if users else company.admins[0]  # noqa: E731
        if op_type == 1:
            return rng.choice(company.office_ips)
        if op_type in (3, 4):
            return rng.choice([company.domain, f"mail.{company.domain}"])
        if op_type in (11, 12, 14, 15):
            return f"{rng.choice(['promo', 'sales', 'noreply'])}@{rng.choice(company.spam_domains)}"
        if op_type in (17, 18):
            return rng.choice(company.partner_domains)
        if op_type in (39, 40, 41):
            return rng.choice(APP_NAMES)
        if op_type in (5, 6, 9, 10, 13, 16, 35):
            return ""
        if op_type in (2, 7, 8):
            return rng.choice(company.admins)
        return user()

    def batchjob(self, rng: random.Random, t: int, view: _View | None = None, push: bool = False) -> None:
        record = {"time": t, "operator": self._operator(rng), "type": _pick(rng, BATCH_TYPES),
                  "status": _pick(rng, BATCH_STATUS)}
        self._add(rng, "batchjob_log", record)
