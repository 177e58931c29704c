"""Message templates: Jinja2 (sandboxed), with default title/text/markdown templates in Chinese and English.

A template sees `n` (the Notification), `title` (the rendered title; not in the title template itself),
`status`, `severity`, `alerts`, `firing`, `resolved`, `sso_links`, `common_labels`, `t` (localized words:
`t.resolved`, `t.labels`, `t.severity_name(s)`...), `md(text)` (makes untrusted text safe inside markdown:
one line, no `<...>` tags, so a mail subject cannot inject `<@all>` or `<font>`) and
`safe(text)` (the same for text messages,
keeping line breaks) and `highlight(text, severity)` (coloured text in the destination's markdown flavour).
Templates are compiled when a sink is built, so a broken override fails at start with the field named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field

from pipeline.sinks.delivery.notification import Notification

Language = Literal["zh", "en"]
Flavor = Literal["wecom", "dingtalk", "feishu", "plain"]

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

_COLORS: dict[str, dict[str, str]] = {
    "wecom": {"critical": "warning", "high": "warning", "warning": "comment", "info": "info", "resolved": "info"},
    "dingtalk": {"critical": "#d93026", "high": "#d93026", "warning": "#f5a623", "info": "#1890ff",
                 "resolved": "#52c41a"},
    "feishu": {"critical": "red", "high": "red", "warning": "orange", "info": "blue", "resolved": "green"},
}


def safe(value: Any) -> str:
    """Untrusted text without angle brackets (WeCom reads `<@userid>` as a mention even in text messages)."""
    return str(value).replace("\r", "").replace("<", "＜").replace(">", "＞")


def md(value: Any) -> str:
    return safe(value).replace("\n", " ")


def _highlighter(flavor: Flavor) -> Callable[[str, str], str]:
    colors = _COLORS.get(flavor)

    def highlight(text: str, severity: str) -> str:
        if colors is None:
            return f"**{text}**"
        return f'<font color="{colors.get(severity, colors["warning"])}">{text}</font>'

    return highlight


class MessageRenderer:
    """Renders a notification's title, text and markdown for one sink."""

    def __init__(self, language: Language = "zh", overrides: TemplateSettings | None = None,
                 flavor: Flavor = "plain") -> None:
        self.language = language
        self._env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(_DIR / language)), undefined=jinja2.StrictUndefined,
            trim_blocks=True, lstrip_blocks=True, autoescape=False,
        )
        self._env.globals.update(md=md, safe=safe, highlight=_highlighter(flavor), t=WORDS[language])
        overrides = overrides or TemplateSettings()
        self._templates = {name: self._compile(name, getattr(overrides, name))
                           for name in ("title", "text", "markdown")}

    def _compile(self, name: str, source: str | None) -> jinja2.Template:
        try:
            return self._env.from_string(source) if source is not None else self._env.get_template(f"{name}.j2")
        except jinja2.TemplateError as exc:
            raise TemplateError(f"templates.{name} does not compile: {exc}") from exc

    def _context(self, n: Notification) -> dict[str, Any]:
        common = dict(n.alerts[0].labels) if n.alerts else {}
        for a in n.alerts[1:]:
            common = {k: v for k, v in common.items() if a.labels.get(k) == v}
        return {
            "n": n, "status": n.status, "severity": n.severity, "alerts": list(n.alerts),
            "firing": [a for a in n.alerts if a.status == "firing"],
            "resolved": [a for a in n.alerts if a.status == "resolved"],
            "sso_links": list(n.sso_links), "common_labels": common,
        }

    def _render(self, name: str, context: dict[str, Any]) -> str:
        try:
            return self._templates[name].render(context).strip()
        except jinja2.TemplateError as exc:
            raise TemplateError(f"templates.{name} failed to render: {type(exc).__name__}: {exc}") from exc

    def title(self, n: Notification) -> str:
        return self._render("title", self._context(n))

    def text(self, n: Notification) -> str:
        context = self._context(n)
        return self._render("text", {**context, "title": self._render("title", context)})

    def markdown(self, n: Notification) -> str:
        context = self._context(n)
        return self._render("markdown", {**context, "title": self._render("title", context)})
