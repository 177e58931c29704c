"""What employees see: refusal pages in Chinese and English, and the LDAP login form.

Every page is `no-store` (a back button never replays a login form or a refusal), may not be framed
(clickjacking on the login form), and sends no Referer (the state and code never leak to another site).
"""

from __future__ import annotations

import html
import re

from aiohttp import web

# reason -> (HTTP status, 中文标题, 中文说明, English title, English explanation)
REFUSALS: dict[str, tuple[int, str, str, str, str]] = {
    "bad_request": (400, "请求无效", "链接中的邮箱地址格式不正确。",
                    "Bad request", "The mailbox address in the link is not valid."),
    "method_unavailable": (404, "登录方式不可用", "此网关未配置所选的登录方式。",
                           "Login method not available", "This gateway does not offer the chosen login method."),
    "forged_state": (400, "登录请求无效", "此登录响应不是本网关发出的。请重新打开邮箱链接。",
                     "Login refused", "This login response was not issued by this gateway. Open the mailbox "
                     "link again."),
    "expired": (400, "登录已超时", "登录用时过长。请重新打开邮箱链接。",
                "Login timed out", "The login took too long. Open the mailbox link again."),
    "state_mismatch": (400, "登录请求无效", "此登录不是在当前浏览器中发起的，或浏览器未保存登录 Cookie。"
                       "请在同一浏览器中重新打开邮箱链接。",
                       "Login refused", "This login was not started in this browser, or the browser dropped its "
                       "login cookie. Open the mailbox link again in this browser."),
    "replayed": (400, "登录请求已使用", "此登录响应已经使用过，不能再次使用。请重新打开邮箱链接。",
                 "Login already used", "This login response was already used and cannot be used again. Open "
                 "the mailbox link again."),
    "idp_error": (401, "身份认证未完成", "身份提供方没有完成登录。",
                  "Not signed in", "The identity provider did not sign you in."),
    "code_rejected": (401, "身份认证失败", "身份提供方拒绝了此次登录。请重新打开邮箱链接。",
                      "Sign-in failed", "The identity provider refused this sign-in. Open the mailbox link again."),
    "bad_id_token": (401, "身份认证失败", "无法验证身份提供方返回的身份令牌。",
                     "Sign-in failed", "The identity token from the identity provider could not be verified."),
    "bad_credentials": (401, "用户名或密码错误", "用户名或密码不正确。",
                        "Wrong user name or password", "The user name or the password is not correct."),
    "no_own_mailbox": (403, "没有可打开的邮箱", "您的身份没有对应本企业的邮箱。",
                       "No mailbox", "Your identity has no mailbox of this company."),
    "not_allowed": (403, "无权打开此邮箱", "此邮箱既不是您本人的邮箱，也不是允许共享的邮箱。",
                    "Not allowed", "This mailbox is neither yours nor a shared mailbox you may open."),
    "not_in_group": (403, "无权打开此共享邮箱", "您不在允许打开此共享邮箱的用户组中。如需访问，请联系管理员。",
                     "Not allowed", "You are not in a group that may open this shared mailbox. Ask your "
                     "administrator for access."),
    "idp_unavailable": (503, "身份提供方不可用", "暂时无法连接身份提供方，请稍后再试。",
                        "Identity provider unavailable", "The identity provider cannot be reached; try again "
                        "shortly."),
    "directory_unavailable": (503, "目录服务不可用", "暂时无法连接目录服务，请稍后再试。",
                              "Directory unavailable", "The directory cannot be reached; try again shortly."),
    "no_such_mailbox": (404, "邮箱不存在", "腾讯企业邮箱中没有这个邮箱账号。",
                        "No such mailbox", "Exmail has no account for this mailbox."),
    "exmail_error": (502, "企业邮箱未响应", "无法从腾讯企业邮箱获取登录链接，请稍后再试。",
                     "Exmail did not answer", "Could not get a login link from Exmail; try again shortly."),
    "audit_unavailable": (503, "暂时无法登录", "登录记录无法保存，因此未放行。请稍后再试。",
                          "Login not possible now", "The login could not be recorded, so it was not let through; "
                          "try again shortly."),
}

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}

_STYLE = ("body{font-family:system-ui,'PingFang SC','Microsoft YaHei',sans-serif;max-width:34em;margin:4em auto;"
          "padding:0 1em;color:#222}h1{font-size:1.4em}p.en{color:#555}code{color:#888}label{display:block;"
          "margin:.8em 0}input{font-size:1em;padding:.3em;width:100%}button{margin-top:1em;font-size:1em}")


def _document(title: str, body: str) -> str:
    return (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<meta name='viewport' content='width=device-width'><style>{_STYLE}</style></head>"
            f"<body>{body}</body></html>")


def parse_reason(page: str) -> str | None:
    """The reason code a refusal page shows (for tests and support tooling)."""
    m = re.search(r"<code>([a-z_]+)", page)
    return m.group(1) if m else None


def refusal_page(reason: str, reference: str | None = None) -> web.Response:
    status, zh_title, zh_text, en_title, en_text = REFUSALS.get(reason, REFUSALS["bad_request"])
    ref = f"<p><code>{html.escape(reason)}{' · ' + html.escape(reference) if reference else ''}</code></p>"
    body = (f"<h1>{html.escape(zh_title)} / {html.escape(en_title)}</h1><p>{html.escape(zh_text)}</p>"
            f"<p class='en'>{html.escape(en_text)}</p>{ref}")
    return web.Response(status=status, text=_document(f"{zh_title} / {en_title}", body), content_type="text/html",
                        headers=SECURITY_HEADERS)


def login_form(action: str, state: str, box: str | None, *, failed: bool = False) -> web.Response:
    """The LDAP login form; `state` is the signed single-use state of this browser's transaction."""
    target = (f"<p>共享邮箱 / shared mailbox: <b>{html.escape(box)}</b></p>" if box else "")
    error = ("<p><b>用户名或密码错误 / Wrong user name or password.</b></p>" if failed else "")
    body = (f"<h1>登录企业邮箱 / Sign in to your mailbox</h1>{target}{error}"
            f"<form method='post' action='{html.escape(action)}' autocomplete='off'>"
            f"<input type='hidden' name='state' value='{html.escape(state)}'>"
            "<label>用户名 / User name<input name='username' required autofocus></label>"
            "<label>密码 / Password<input name='password' type='password' required></label>"
            "<button type='submit'>登录 / Sign in</button></form>")
    return web.Response(status=401 if failed else 200, text=_document("登录 / Sign in", body),
                        content_type="text/html", headers=SECURITY_HEADERS)
