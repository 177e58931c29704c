"""Message templates: Jinja2 (sandboxed), with default title/text/markdown templates in Chinese and English.

A template sees `n` (the Notification), `title` (the rendered title; not in the title template itself),
`status`, `severity`, `alerts`, `firing`, `resolved`, `sso_links`, `common_labels`, `t` (localized words:
`t.resolved`, `t.labels`, `t.severity_name(s)`...), `md(text)` (makes untrusted text safe inside markdown:
one line, no `<...>` tags, so a mail subject cannot inject `<@all>` or `<font>`) and
`safe(text)` (the same for text messages,
keeping line breaks) and `highlight(text, severity)` (coloured text in the destination's markdown flavour:
each sink passes its palette, severity/"resolved" -> colour, from its own encoder; none: bold).
Templates are compiled when a sink is built, so a broken override fails at start with the field named.

The built-in templates (templates/<language>/*.j2, the reference users copy from) are rendered by plain Python
functions that produce the same text (tests/unit/sinks/delivery/test_templates.py compares them on many
notifications): five sandboxed Jinja2 renders cost ~0.45 ms per notification. Only user templates go through
the sandbox, and the title is rendered once per notification even when the text and markdown embed it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from pipeline.notification import Notification

Language = Literal["zh", "en"]
#: severity (and "resolved") -> the colour a destination's markdown `<font color=...>` takes; a sink's own
Palette = Mapping[str, str]

_DIR = Path(__file__).with_name("templates")


class TemplateError(ValueError):
    """A template does not compile or does not render; names the template."""


class TemplateSettings(BaseModel):
    """Jinja2 sources overriding the defaults for the sink's language; unset ones use the default."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, description="one-line title")
    text: str | None = Field(None, description="plain-text body (WeCom/DingTalk/Feishu text messages)")
    markdown: str | None = Field(None, description="markdown body")


@dataclass(frozen=True, slots=True)
class _Words:
    firing: str
    resolved: str
    alerts: str
    labels: str
    started: str
    severities: Mapping[str, str]

    def severity_name(self, severity: str) -> str:
        return self.severities.get(severity, severity)


WORDS: dict[str, _Words] = {
    "zh": _Words(firing="告警", resolved="已恢复", alerts="条告警", labels="标签", started="开始时间",
                 severities={"critical": "严重", "high": "高危", "warning": "警告", "info": "提示"}),
    "en": _Words(firing="FIRING", resolved="RESOLVED", alerts="alerts", labels="Labels", started="Started",
                 severities={"critical": "CRITICAL", "high": "HIGH", "warning": "WARNING", "info": "INFO"}),
}

def safe(value: Any) -> str:
    """Untrusted text without angle brackets (WeCom reads `<@userid>` as a mention even in text messages)."""
    text = value if type(value) is str else str(value)
    if "<" in text or ">" in text or "\r" in text:  # most label values have none: three scans, no copies
        return text.replace("\r", "").replace("<", "＜").replace(">", "＞")
    return text


def md(value: Any) -> str:
    text = safe(value)
    return text.replace("\n", " ") if "\n" in text else text


def _highlighter(colors: Palette | None) -> Callable[[str, str], str]:
    def highlight(text: str, severity: str) -> str:
        if colors is None:
            return f"**{text}**"
        return f'<font color="{colors.get(severity, colors["warning"])}">{text}</font>'

    return highlight


_Builtin = Callable[[dict[str, Any], "_Lang"], str]


@dataclass(frozen=True, slots=True)
class _Lang:
    """What differs between the Chinese and English built-in templates, besides the words."""

    t: _Words
    highlight: Callable[[str, str], str]
    colon: str
    label_sep: str
    resolved_sep: str
    count: Callable[[int, str], str]


def _labels(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """Jinja's `dictsort`: by key, case-insensitively, stable."""
    return sorted(labels.items(), key=lambda kv: kv[0].lower())


def _safe_labels(c: dict[str, Any], index: int, labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """An alert's labels in `dictsort` order, each key and value through `safe`: sorted and cleaned once per
    notification, for the text and the markdown both."""
    cache: dict[int, list[tuple[str, str]]] = c.setdefault("_safe_labels", {})
    pairs = cache.get(index)
    if pairs is None:
        pairs = cache[index] = [(safe(k), safe(v)) for k, v in _labels(labels)]
    return pairs


def _one_line(text: str) -> str:
    """`md` of text that already went through `safe`."""
    return text.replace("\n", " ") if "\n" in text else text


def _builtin_title(c: dict[str, Any], lang: _Lang) -> str:
    n, alerts = c["n"], c["alerts"]
    head = f"[{lang.t.resolved}]" if c["status"] == "resolved" else f"[{lang.t.severity_name(c['severity'])}]"
    body = n.title or (alerts[0].summary if alerts and alerts[0].summary else n.group_key)
    tail = lang.count(len(alerts), lang.t.alerts) if len(alerts) > 1 else ""
    return f"{head} {body}{tail}".strip()


def _builtin_text(c: dict[str, Any], lang: _Lang) -> str:
    n, t = c["n"], lang.t
    out = [safe(c["title"]), "\n"]
    if n.text:
        out += [safe(n.text), "\n"]
    else:
        for i, a in enumerate(c["alerts"], 1):
            state = lang.resolved_sep + t.resolved if a.status == "resolved" else ""
            out.append(f"{i}. [{t.severity_name(a.severity)}{state}] "
                       f"{safe(a.summary or a.labels.get('alertname', ''))}\n")
            if a.labels:
                pairs = lang.label_sep.join(f"{k}={v}" for k, v in _safe_labels(c, i, a.labels))
                out.append(f"   {t.labels}{lang.colon}{pairs}\n")
            if a.annotations.get("description"):
                out.append(f"   {safe(a.annotations['description'])}\n")
            if a.starts_at:
                out.append(f"   {t.started}{lang.colon}{a.starts_at}\n")
    for link in c["sso_links"]:
        out.append(f"{safe(link.label)}{lang.colon}{link.url}\n")
    return "".join(out).strip()


def _builtin_markdown(c: dict[str, Any], lang: _Lang) -> str:
    n, t = c["n"], lang.t
    out = [f"## {md(c['title'])}\n"]
    if n.markdown:
        out.append(f"{n.markdown}\n")
    else:
        for i, a in enumerate(c["alerts"], 1):
            state = lang.resolved_sep + t.resolved if a.status == "resolved" else ""
            mark = lang.highlight(t.severity_name(a.severity) + state,
                                  a.severity if a.status == "firing" else "resolved")
            out.append(f"> {mark} **{md(a.summary or a.labels.get('alertname', ''))}**\n")
            if a.labels:
                pairs = " ".join(f"`{_one_line(k)}={_one_line(v)}`" for k, v in _safe_labels(c, i, a.labels))
                out.append(f"> {t.labels}{lang.colon}{pairs}\n")
            if a.annotations.get("description"):
                out.append(f"> {md(a.annotations['description'])}\n")
            if a.starts_at:
                out.append(f"> {t.started}{lang.colon}{a.starts_at}\n")
            out.append("\n")
    for link in c["sso_links"]:
        out.append(f"[{md(link.label)}]({link.url})\n")
    return "".join(out).strip()


_BUILTINS: dict[str, _Builtin] = {"title": _builtin_title, "text": _builtin_text, "markdown": _builtin_markdown}


def _lang(language: Language, colors: Palette | None) -> _Lang:
    if language == "zh":
        return _Lang(WORDS["zh"], _highlighter(colors), "：", "，", "·", lambda k, w: f"（{k} {w}）")
    return _Lang(WORDS["en"], _highlighter(colors), ": ", ", ", ", ", lambda k, w: f" ({k} {w})")


class MessageRenderer:
    """Renders a notification's title, text and markdown for one sink (built-ins in Python, overrides in the
    Jinja2 sandbox); the last notification's context and title are kept, so title+text+markdown of one
    notification build them once."""

    def __init__(self, language: Language = "zh", overrides: TemplateSettings | None = None,
                 colors: Palette | None = None) -> None:
        self.language = language
        self._lang = _lang(language, colors)
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(_DIR / language)), undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, autoescape=False,
        )
        self._env.globals.update(md=md, safe=safe, highlight=_highlighter(colors), t=WORDS[language])
        overrides = overrides or TemplateSettings()
        self._templates = {name: self._compile(name, source) for name in ("title", "text", "markdown")
                           if (source := getattr(overrides, name)) is not None}
        self._last: tuple[Notification, dict[str, Any]] | None = None

    def _compile(self, name: str, source: str) -> jinja2.Template:
        try:
            return self._env.from_string(source)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"templates.{name} does not compile: {exc}") from exc

    def _context(self, n: Notification) -> dict[str, Any]:
        last = self._last
        if last is not None and last[0] is n:
            return last[1]
        common = dict(n.alerts[0].labels) if n.alerts else {}
        for a in n.alerts[1:]:
            common = {k: v for k, v in common.items() if a.labels.get(k) == v}
        context = {
            "n": n, "status": n.status, "severity": n.severity, "alerts": list(n.alerts),
            "firing": [a for a in n.alerts if a.status == "firing"],
            "resolved": [a for a in n.alerts if a.status == "resolved"],
            "sso_links": list(n.sso_links), "common_labels": common,
        }
        self._last = (n, context)
        return context

    def _render(self, name: str, context: dict[str, Any]) -> str:
        template = self._templates.get(name)
        if template is None:
            return _BUILTINS[name](context, self._lang)
        try:
            return template.render(context).strip()
        except jinja2.TemplateError as exc:
            raise TemplateError(f"templates.{name} failed to render: {type(exc).__name__}: {exc}") from exc

    def _with_title(self, n: Notification) -> dict[str, Any]:
        context = self._context(n)
        if "title" not in context:
            title = self._render("title", context)  # the title template itself does not see `title`
            context["title"] = title
        return context

    def title(self, n: Notification) -> str:
        return str(self._with_title(n)["title"])

    def text(self, n: Notification) -> str:
        return self._render("text", self._with_title(n))

    def markdown(self, n: Notification) -> str:
        return self._render("markdown", self._with_title(n))

    def reference(self, name: str) -> jinja2.Template:
        """The shipped Jinja2 form of a built-in template (what the Python built-ins must equal)."""
        return self._env.get_template(f"{name}.j2")
