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

from pipeline.sim._corp import CorpState
from pipeline.sim.config import TrafficConfig

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
# operation type -> weight; every type 1..41 occurs
OP_WEIGHTS = {t: 1.0 for t in range(1, 42)}
OP_WEIGHTS.update({1: 25.0, 2: 3.0, 19: 6.0, 20: 3.0, 21: 2.0, 22: 3.0, 23: 8.0, 24: 2.0, 28: 2.0, 30: 2.0,
                   32: 2.0, 34: 3.0})
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


class TrafficGenerator:
    def __init__(self, corp: CorpState, traffic: TrafficConfig, seed: int) -> None:
        self.corp = corp
        self.traffic = traffic
        self.seed = seed
        self.watermark: int | None = None
        self.push_from: float = 0.0
        self.counts: dict[str, int] = {"mail_log": 0, "login_log": 0, "operation_log": 0, "batchjob_log": 0,
                                       "mails_delivered": 0}

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
            self.generate_minute(self.watermark)
            done += 1
        return done

    def generate_minute(self, minute: int) -> None:
        rng = random.Random(f"traffic:{self.seed}:{minute}")
        t0 = minute * 60
        hour = self.corp.clock.local(t0).hour
        factor = HOURLY[hour] / _HOURLY_MEAN / 1440.0
        users = self._active_users()
        n = len(users)
        push = t0 >= self.push_from
        for _ in range(_poisson(rng, self.traffic.mails_per_user_per_day * n * factor)):
            self.mail_flow(rng, t0 + rng.randrange(60), users, push)
        for _ in range(_poisson(rng, self.traffic.logins_per_user_per_day * n * factor)):
            self.login(rng, t0 + rng.randrange(60), users)
        for _ in range(_poisson(rng, self.traffic.admin_ops_per_day * factor)):
            self.operation(rng, t0 + rng.randrange(60), users)
        for _ in range(_poisson(rng, self.traffic.batchjobs_per_day * factor)):
            self.batchjob(rng, t0 + rng.randrange(60))

    # --- whole days for tests

    def generate_day(self, day: str, mail_records: int = 0, login_records: int = 0, operation_records: int = 0,
                     batchjob_records: int = 0, seed: int | None = None, new_mail: bool = False,
                     late_fraction: float | None = None) -> dict[str, int]:
        """Add exactly the requested number of records of each kind, spread over `day` (local date)."""
        rng = random.Random(f"day:{self.seed if seed is None else seed}:{day}")
        start = self.corp.clock.day_start(day)
        users = self._active_users()
        saved = self.traffic.late_fraction
        if late_fraction is not None:
            self.traffic = self.traffic.model_copy(update={"late_fraction": late_fraction})
        try:
            before = dict(self.counts)
            made = 0
            while made < mail_records:
                made += self.mail_flow(rng, start + rng.randrange(86400), users, new_mail,
                                       limit=mail_records - made, deliver=new_mail)
            for _ in range(login_records):
                self.login(rng, start + rng.randrange(86400), users)
            for _ in range(operation_records):
                self.operation(rng, start + rng.randrange(86400), users)
            for _ in range(batchjob_records):
                self.batchjob(rng, start + rng.randrange(86400))
        finally:
            self.traffic = self.traffic.model_copy(update={"late_fraction": saved})
        return {k: self.counts[k] - before[k] for k in self.counts}

    # --- record makers

    def _active_users(self) -> list[str]:
        return [u.userid for u in self.corp.directory.users.values() if u.enable]

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
            if (deliver and receiver is not None and record["status"] in (13, 14)
                    and receiver in self.corp.directory.users):
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

    def operation(self, rng: random.Random, t: int, users: list[str]) -> None:
        company = self.corp.company
        op_type = rng.choices(list(OP_WEIGHTS), weights=list(OP_WEIGHTS.values()))[0]
        operand = self._operand(rng, op_type, users)
        record: dict[str, Any] = {"time": t, "operator": rng.choice(company.admins), "type": op_type,
                                  "operand": operand}
        if op_type == 20 and rng.random() < 0.2:
            record["remark"] = "1"
        self._add(rng, "operation_log", record)

    def _operand(self, rng: random.Random, op_type: int, users: list[str]) -> str:
        company = self.corp.company
        directory = self.corp.directory
        user: Callable[[], str] = lambda: rng.choice(users) if users else company.admins[0]  # noqa: E731
        if op_type == 1:
            return rng.choice(company.office_ips)
        if op_type in (3, 4):
            return rng.choice([company.domain, f"mail.{company.domain}"])
        if op_type in (11, 12, 14, 15):
            return f"{rng.choice(['promo', 'sales', 'noreply'])}@{rng.choice(company.spam_domains)}"
        if op_type in (17, 18):
            return rng.choice(company.partner_domains)
        if op_type in (28, 29, 30, 31):
            return rng.choice([d.name for d in directory.departments.values()])
        if op_type in (32, 33, 34):
            return rng.choice(sorted(directory.groups) or [f"all@{company.domain}"])
        if op_type in (39, 40, 41):
            return rng.choice(APP_NAMES)
        if op_type in (5, 6, 9, 10, 13, 16, 35):
            return ""
        return user()

    def batchjob(self, rng: random.Random, t: int) -> None:
        record = {"time": t, "operator": rng.choice(self.corp.company.admins), "type": _pick(rng, BATCH_TYPES),
                  "status": _pick(rng, BATCH_STATUS)}
        self._add(rng, "batchjob_log", record)
