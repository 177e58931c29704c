"""Chinese and English for the console: the browser's Accept-Language picks, the `exmail_lang` cookie (the
switch in the header) overrides. Every string a page shows is a key here, so the two stay complete."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

LANG_COOKIE = "exmail_lang"
LANGUAGES = ("en", "zh")

MESSAGES: dict[str, tuple[str, str]] = {
    "title": ("Exmail pipeline console", "腾讯企业邮 事件管道控制台"),
    "nav.alerts": ("Alerts", "告警"),
    "nav.silences": ("Silences", "静默"),
    "nav.actions": ("Actions", "账号操作"),
    "nav.audit": ("Audit", "审计"),
    "nav.pipeline": ("Pipeline", "管道"),
    "logout": ("Log out", "退出"),
    "signed_in_as": ("Signed in as", "当前用户"),
    "login.title": ("Log in", "登录"),
    "login.token": ("Access token", "访问令牌"),
    "login.help": ("Paste the bearer token you were given (auth.tokens). The console keeps a signed session "
                   "cookie; the token is not stored.",
                   "粘贴分配给您的令牌（auth.tokens）。控制台只保存签名的会话 Cookie，不保存令牌。"),
    "login.submit": ("Log in", "登录"),
    "login.invalid": ("That token is not valid.", "令牌无效。"),
    "login.blocked": ("Too many failed attempts; retry later.", "失败次数过多，请稍后再试。"),
    "login.expired": ("The login form expired; try again.", "登录表单已过期，请重试。"),
    "alerts.live": ("live", "实时"),
    "alerts.offline": ("reconnecting…", "正在重连…"),
    "alerts.groups": ("Alert groups (routing)", "告警分组（路由）"),
    "alerts.stream": ("Live alerts", "实时告警"),
    "alerts.off": ("The alerting agents do not run in this worker (or have not started yet).",
                   "本 worker 未运行告警组件（或尚未启动）。"),
    "alerts.none": ("No alert groups right now.", "当前没有告警分组。"),
    "col.status": ("Status", "状态"),
    "col.alert": ("Alert", "告警"),
    "col.labels": ("Labels", "标签"),
    "col.summary": ("Summary", "摘要"),
    "col.since": ("Since", "开始"),
    "col.receiver": ("Receiver", "接收方"),
    "col.timers": ("Timers", "计时"),
    "col.muted": ("Muted by", "屏蔽原因"),
    "col.delivery": ("Delivery", "投递结果"),
    "col.time": ("Time", "时间"),
    "col.kind": ("Kind", "类型"),
    "col.action": ("Action", "动作"),
    "col.user": ("User", "用户"),
    "col.ip": ("IP", "IP"),
    "col.outcome": ("Outcome", "结果"),
    "col.id": ("ID", "ID"),
    "col.matchers": ("Matchers", "匹配条件"),
    "col.state": ("State", "状态"),
    "col.ends": ("Ends", "结束"),
    "col.created_by": ("Created by", "创建人"),
    "col.comment": ("Comment", "备注"),
    "col.account": ("Account", "账号"),
    "col.plan": ("Plan", "执行计划"),
    "col.topic": ("Topic", "主题"),
    "col.stages": ("Stages", "阶段"),
    "col.lag": ("Consumer lag", "消费延迟"),
    "col.records": ("Records processed", "已处理记录"),
    "col.rate": ("Throughput (since the last look)", "吞吐（自上次查看）"),
    "col.stage": ("Stage", "阶段"),
    "col.count": ("Dead letters", "死信数"),
    "col.stream": ("Stream", "数据流"),
    "col.failures": ("Failures", "失败次数"),
    "col.window": ("Cursor (window)", "游标（时间窗口）"),
    "col.last_poll": ("Last poll", "上次拉取"),
    "col.errors": ("Errors", "错误"),
    "silenced": ("silenced", "已静默"),
    "inhibited": ("inhibited", "已抑制"),
    "silences.new": ("New silence", "新建静默"),
    "silences.matchers_help": ("One matcher per line: name=\"value\", name!=\"value\", name=~\"regex\"",
                               "每行一个匹配条件：name=\"value\"、name!=\"value\"、name=~\"regex\""),
    "silences.duration": ("Duration", "时长"),
    "silences.comment": ("Comment", "备注"),
    "silences.preview": ("Preview", "预览"),
    "silences.preview_count": ("alerts would be muted now", "条告警将被静默"),
    "silences.create": ("Create silence", "创建静默"),
    "silences.expire": ("Expire", "使失效"),
    "silences.none": ("No silences.", "没有静默。"),
    "actions.pending": ("Pending approvals", "待审批"),
    "actions.history": ("History", "历史"),
    "actions.approve": ("Approve", "批准"),
    "actions.reject": ("Reject", "拒绝"),
    "actions.undo": ("Undo", "撤销"),
    "actions.reason": ("Reason", "原因"),
    "actions.none": ("Nothing waits for approval.", "没有待审批的操作。"),
    "actions.off": ("The actions agent does not run in this worker.", "本 worker 未运行账号操作组件。"),
    "audit.search": ("Search", "搜索"),
    "audit.since": ("From", "从"),
    "audit.until": ("Until", "到"),
    "audit.text": ("Text in the message", "消息全文"),
    "audit.results": ("records on this page", "条记录（本页）"),
    "audit.next": ("Next page", "下一页"),
    "audit.prev": ("Previous page", "上一页"),
    "audit.export_csv": ("Export CSV", "导出 CSV"),
    "audit.export_jsonl": ("Export JSON lines", "导出 JSON Lines"),
    "audit.verify": ("Verify the hash chain", "校验哈希链"),
    "audit.verified": ("Hash chains intact", "哈希链完整"),
    "audit.broken": ("Hash chain broken", "哈希链已损坏"),
    "audit.document": ("ECS / OCSF document", "ECS / OCSF 文档"),
    "pipeline.lag": ("Worker stages: consumer lag and throughput", "Worker 阶段：消费延迟与吞吐"),
    "pipeline.ingest": ("Ingest streams (/healthz)", "采集数据流（/healthz）"),
    "pipeline.ingest_off": ("Set worker.console.ingest_url to show the ingest's streams.",
                            "设置 worker.console.ingest_url 以显示采集进程的数据流。"),
    "pipeline.ingest_down": ("The ingest did not answer", "采集进程无响应"),
    "pipeline.dlq": ("Dead letters by stage", "按阶段统计的死信"),
    "pipeline.dry_run": ("Dry run", "试运行"),
    "pipeline.replay": ("Replay", "重放"),
    "pipeline.replay_result": ("Replay", "重放结果"),
    "pipeline.matched": ("matched", "匹配"),
    "pipeline.replayed": ("replayed", "已重放"),
    "pipeline.skipped": ("skipped", "跳过"),
    "pipeline.masked": ("refused (masked secrets)", "拒绝（含已屏蔽的密钥）"),
    "nav.api": ("API console", "API 控制台"),
    "api.endpoint": ("Endpoint", "接口"),
    "api.params": ("Parameters, one key=value per line (key:=JSON for raw JSON)",
                   "参数，每行一个 key=value（原始 JSON 用 key:=JSON）"),
    "api.corp": ("Corp", "企业"),
    "api.call": ("Call", "调用"),
    "api.app": ("App", "应用"),
    "api.method": ("Method", "方法"),
    "api.doc": ("What it does", "说明"),
    "api.result": ("Result", "结果"),
    "api.meaning": ("Meaning", "含义"),
    "api.hint": ("Fix", "处理建议"),
    "api.no_corps": ("No Exmail corp is configured (ingest.corps).", "未配置企业邮企业（ingest.corps）。"),
    "error": ("Error", "错误"),
}


def pick_language(request: web.Request) -> str:
    """The `exmail_lang` cookie, else the first supported language of Accept-Language (by q), else English."""
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(request.headers.get("Accept-Language", "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and q > 0:
            ranked.append((-q, i, primary))
    return min(ranked)[2] if ranked else "en"


Translate = Callable[[str], str]


def translator(lang: str) -> Translate:
    index = LANGUAGES.index(lang)

    def t(key: str) -> str:
        return MESSAGES[key][index]

    return t

