"""The seeded synthetic company: a department tree with 19-digit ids, Chinese and English staff, mail
groups, tags, a customer-service mailbox, partner domains and per-user login IP habits."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pipeline.sim._state import DEFAULT_OPTIONS, ROOT_ID, Department, Directory, Group, Tag, User

SURNAMES = [
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"), ("马", "ma"),
    ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"),
    ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"), ("韩", "han"),
    ("冯", "feng"), ("邓", "deng"), ("曹", "cao"), ("彭", "peng"),
]
GIVEN = [
    ("伟", "wei", 1), ("芳", "fang", 2), ("娜", "na", 2), ("敏", "min", 2), ("静", "jing", 2), ("丽", "li", 2),
    ("强", "qiang", 1), ("磊", "lei", 1), ("军", "jun", 1), ("洋", "yang", 1), ("勇", "yong", 1),
    ("艳", "yan", 2), ("杰", "jie", 1), ("娟", "juan", 2), ("涛", "tao", 1), ("明", "ming", 1), ("超", "chao", 1),
    ("秀英", "xiuying", 2), ("霞", "xia", 2), ("平", "ping", 1), ("刚", "gang", 1), ("桂英", "guiying", 2),
    ("华", "hua", 1), ("建国", "jianguo", 1), ("晓明", "xiaoming", 1), ("婷", "ting", 2), ("雪", "xue", 2),
    ("宇", "yu", 1), ("浩", "hao", 1), ("欣怡", "xinyi", 2), ("子轩", "zixuan", 1), ("梓涵", "zihan", 2),
    ("一诺", "yinuo", 2), ("思远", "siyuan", 1), ("嘉怡", "jiayi", 2), ("俊杰", "junjie", 1), ("海燕", "haiyan", 2),
]
ENGLISH = [
    ("Alice", 2), ("Bob", 1), ("Carol", 2), ("David", 1), ("Emma", 2), ("Frank", 1), ("Grace", 2), ("Henry", 1),
    ("Ivy", 2), ("Jack", 1), ("Kevin", 1), ("Lily", 2), ("Mike", 1), ("Nancy", 2), ("Oscar", 1), ("Peter", 1),
    ("Rachel", 2), ("Sam", 1), ("Tina", 2), ("Vincent", 1), ("Wendy", 2), ("Leo", 1), ("Sophia", 2),
]
# top-level department -> (sub-departments, share of staff, positions)
DEPARTMENTS: list[tuple[str, list[str], float, list[str]]] = [
    ("研发中心", ["后端组", "前端组", "移动端组", "测试组", "运维组"], 0.32,
     ["软件工程师", "高级工程师", "测试工程师", "运维工程师", "技术经理"]),
    ("产品部", ["产品一组", "设计组"], 0.08, ["产品经理", "UI设计师", "交互设计师"]),
    ("销售部", ["华北销售", "华东销售", "华南销售", "海外销售"], 0.2, ["销售代表", "大客户经理", "销售总监"]),
    ("市场部", ["品牌组", "渠道组"], 0.08, ["市场专员", "品牌经理"]),
    ("客户服务部", ["一线客服", "技术支持"], 0.12, ["客服专员", "技术支持工程师", "客服主管"]),
    ("财务部", [], 0.05, ["会计", "出纳", "财务经理"]),
    ("人力资源部", [], 0.05, ["HRBP", "招聘专员", "薪酬专员"]),
    ("法务部", [], 0.03, ["法务专员", "法务经理"]),
    ("行政部", [], 0.04, ["行政专员", "前台"]),
    ("信息安全部", [], 0.03, ["安全工程师", "IT管理员"]),
]
PARTNER_DOMAINS = ["partner-logistics.cn", "supplier-tech.com", "bigclient-group.com", "lawfirm-partners.cn",
                   "cloudvendor.io"]
CUSTOMER_DOMAINS = ["qq.com", "163.com", "126.com", "gmail.com", "outlook.com", "sina.com", "foxmail.com"]
SPAM_DOMAINS = ["promo-deals.biz", "lottery-winner.top", "invoice-verify.xyz"]
EXTERNAL_LOCALS = ["info", "sales", "support", "hr", "billing", "service", "contact", "ops", "admin", "noreply"]
UNUSUAL_PREFIXES = ["185.220.101", "45.142.212", "103.21.244", "91.240.118", "196.52.43", "5.188.206"]
HOME_PREFIXES = ["183.14", "116.228", "223.104", "117.136", "36.110", "111.199", "58.246", "101.87"]


@dataclass
class Company:
    """Facts the traffic generator needs beyond the address book."""

    domain: str
    service_mailbox: str
    admins: list[str]
    partner_domains: list[str]
    customer_domains: list[str]
    spam_domains: list[str]
    external_contacts: list[str]
    office_ips: list[str]
    user_ips: dict[str, list[str]] = field(default_factory=dict)
    unusual_prefixes: list[str] = field(default_factory=lambda: list(UNUSUAL_PREFIXES))

    def summary(self) -> dict[str, object]:
        return {
            "domain": self.domain, "service_mailbox": self.service_mailbox, "admins": self.admins,
            "partner_domains": self.partner_domains, "customer_domains": self.customer_domains,
            "office_ips": self.office_ips,
        }


def _mobile(rng: random.Random) -> str:
    return rng.choice(["13", "15", "18", "17", "19"]) + "".join(str(rng.randrange(10)) for _ in range(9))


def _ip(rng: random.Random, prefix: str) -> str:
    parts = prefix.split(".")
    while len(parts) < 4:
        parts.append(str(rng.randrange(1, 255)))
    return ".".join(parts)


def build_company(directory: Directory, domain: str, users: int, seed: int) -> Company:
    """Populate `directory` (which must be empty apart from the root) deterministically from `seed`."""
    rng = random.Random(f"company:{seed}")
    dept_ids: dict[str, int] = {}
    positions: dict[int, list[str]] = {}
    top_weights: list[tuple[list[int], float]] = []
    for order, (top, subs, share, titles) in enumerate(DEPARTMENTS, start=1):
        top_id = directory.new_department_id()
        directory.departments[top_id] = Department(top_id, top, ROOT_ID, 10000 + order * 10)
        dept_ids[top] = top_id
        positions[top_id] = titles
        leaves = []
        for sub_order, sub in enumerate(subs, start=1):
            sub_id = directory.new_department_id()
            directory.departments[sub_id] = Department(sub_id, sub, top_id, 10000 + sub_order * 10)
            dept_ids[f"{top}/{sub}"] = sub_id
            positions[sub_id] = titles
            leaves.append(sub_id)
        top_weights.append((leaves or [top_id], share))

    def add_user(userid: str, name: str, dept: int, gender: int, position: str) -> User:
        user = User(userid=userid, name=name, department=[dept], position=position, mobile=_mobile(rng),
                    extid=f"E{len(directory.users) + 1:05d}", gender=gender, password=None)
        directory.users[userid] = user
        opts = dict(DEFAULT_OPTIONS)
        if rng.random() < 0.08:
            opts[1] = "1"
        if rng.random() < 0.1:
            opts[2] = "0"
        if rng.random() < 0.2:
            opts[3] = "0"
        directory.options[userid] = opts
        return user

    security = dept_ids["信息安全部"]
    service_dept = dept_ids["客户服务部/一线客服"]
    admins = [f"admin@{domain}", f"it.ops@{domain}"]
    add_user(admins[0], "系统管理员", security, 0, "IT管理员")
    add_user(admins[1], "IT运维", security, 1, "IT管理员")
    service_mailbox = f"service@{domain}"
    add_user(service_mailbox, "客服邮箱", service_dept, 0, "客服公共邮箱")

    taken = set(directory.users)
    leaves_all = [ids for ids, _ in top_weights]
    shares = [share for _, share in top_weights]
    while len(directory.users) < users:
        leaves = rng.choices(leaves_all, weights=shares)[0]
        dept = rng.choice(leaves)
        surname, surname_py = rng.choice(SURNAMES)
        if rng.random() < 0.2:
            first, gender = rng.choice(ENGLISH)
            name, local = f"{first} {surname_py.capitalize()}", f"{first.lower()}.{surname_py}"
        else:
            given, given_py, gender = rng.choice(GIVEN)
            name, local = surname + given, f"{surname_py}.{given_py}"
        userid, n = f"{local}@{domain}", 1
        while userid in taken:
            n += 1
            userid = f"{local}{n}@{domain}"
        taken.add(userid)
        user = add_user(userid, name, dept, gender, rng.choice(positions[dept]))
        if rng.random() < 0.05:
            alias = f"{local.replace('.', '')}{n if n > 1 else ''}@{domain}"
            if alias not in taken:
                user.slaves.append(alias)
                directory.aliases[alias] = userid
                taken.add(alias)
        if rng.random() < 0.03:
            user.enable = 0

    def dept_members(top: str) -> list[str]:
        scope = set(directory.subtree(dept_ids[top]))
        return [u.userid for u in directory.users.values() if scope & set(u.department)]

    managers = [u.userid for u in directory.users.values()
                if any(k in u.position for k in ("经理", "总监", "主管"))][:40]
    support = dept_members("客户服务部")
    groups = [
        Group(f"all@{domain}", "全体员工", department=[ROOT_ID], allow_type=0),
        Group(f"rd@{domain}", "研发中心", department=[dept_ids["研发中心"]], allow_type=0),
        Group(f"sales@{domain}", "销售部", department=[dept_ids["销售部"]], allow_type=1),
        Group(f"support@{domain}", "客服组", userlist=support[:50] or [service_mailbox], allow_type=1),
        Group(f"managers@{domain}", "管理层", userlist=managers or admins, allow_type=2),
        Group(f"leaders@{domain}", "核心团队", userlist=admins, grouplist=[f"managers@{domain}"], allow_type=3,
              allow_userlist=[admins[0]]),
    ]
    for g in groups:
        directory.groups[g.groupid] = g
    directory.tags[1] = Tag(1, "管理层", userlist=list(managers[:20]))
    directory.tags[2] = Tag(2, "外包", partylist=[dept_ids["客户服务部/一线客服"]])
    directory.tags[3] = Tag(3, "实习生", userlist=[u for u in list(directory.users)[3:200:17]])

    external = [f"{rng.choice(EXTERNAL_LOCALS)}@{d}" for d in PARTNER_DOMAINS for _ in range(3)]
    for d in CUSTOMER_DOMAINS:
        for _ in range(8):
            external.append(f"{rng.choice(SURNAMES)[1]}{rng.randrange(100, 99999)}@{d}")
    office = [_ip(rng, "113.108"), _ip(rng, "202.96")]
    user_ips: dict[str, list[str]] = {}
    for userid in directory.users:
        user_ips[userid] = [rng.choice(office), _ip(rng, rng.choice(HOME_PREFIXES))]
        if rng.random() < 0.4:
            user_ips[userid].append(_ip(rng, rng.choice(HOME_PREFIXES)))
    return Company(
        domain=domain, service_mailbox=service_mailbox, admins=admins,
        partner_domains=list(PARTNER_DOMAINS), customer_domains=list(CUSTOMER_DOMAINS),
        spam_domains=list(SPAM_DOMAINS), external_contacts=sorted(set(external)), office_ips=office,
        user_ips=user_ips,
    )
