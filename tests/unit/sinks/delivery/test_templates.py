"""Default templates in Chinese and English, overrides, and untrusted text kept harmless."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.notification import AlertItem, Notification, SsoLink
from pipeline.sinks.delivery.templates import Language, MessageRenderer, Palette, TemplateError, TemplateSettings
from pipeline.sinks.dingtalk.encoder import COLORS as DINGTALK_COLORS
from pipeline.sinks.feishu.encoder import COLORS as FEISHU_COLORS
from pipeline.sinks.wecom_app.encoder import COLORS as WECOM_COLORS


def test_chinese_defaults(make: Callable[..., Notification]) -> None:
    r = MessageRenderer("zh", colors=WECOM_COLORS)
    n = make()
    assert r.title(n) == "[严重] user0 发信失败过多（2 条告警）"
    md = r.markdown(n)
    assert md.startswith("## [严重] user0 发信失败过多")
    assert '<font color="warning">严重</font>' in md
    assert "`userid=user1@corp.example`" in md
    assert "[登录邮箱](https://sso.example/r?t=abc)" in md
    text = r.text(n)
    assert "标签：alertname=ManyFailedSends，userid=user0@corp.example" in text


def test_english_defaults_and_resolved(make: Callable[..., Notification]) -> None:
    n = make(alerts=(AlertItem(labels={"alertname": "X"}, status="resolved", summary="done"),))
    r = MessageRenderer("en", colors=FEISHU_COLORS)
    assert r.title(n) == "[RESOLVED] done"
    assert "<font color=\"green\">WARNING, RESOLVED</font>" in r.markdown(n)


def test_upstream_bodies_are_used_when_present(make: Callable[..., Notification]) -> None:
    n = make(title="自定义标题", markdown="**已经渲染好的正文**", text="plain body")
    r = MessageRenderer("zh")
    assert "**已经渲染好的正文**" in r.markdown(n)
    assert "plain body" in r.text(n)
    assert "自定义标题" in r.title(n)


def test_untrusted_text_cannot_mention_or_inject_tags(make: Callable[..., Notification]) -> None:
    n = make(alerts=(AlertItem(labels={"alertname": "<@all>"}, summary='<@all> <font color="x">hi'),))
    r = MessageRenderer("zh", colors=WECOM_COLORS)
    for body in (r.markdown(n), r.text(n)):
        assert "<@all>" not in body
        assert '<font color="x">' not in body


def test_overrides_and_their_errors(make: Callable[..., Notification]) -> None:
    r = MessageRenderer("en", TemplateSettings(title="{{ n.receiver }}/{{ alerts|length }}"))
    assert r.title(make()) == "ops/2"
    with pytest.raises(TemplateError, match=r"templates\.markdown does not compile"):
        MessageRenderer("en", TemplateSettings(markdown="{% for %}"))
    bad = MessageRenderer("en", TemplateSettings(text="{{ n.nope }}"))
    with pytest.raises(TemplateError, match=r"templates\.text failed to render"):
        bad.text(make())


def test_templates_are_sandboxed(make: Callable[..., Notification]) -> None:
    r = MessageRenderer("en", TemplateSettings(title="{{ n.__class__.__mro__ }}"))
    with pytest.raises(TemplateError):
        r.title(make())


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_alert_items = st.builds(
    AlertItem,
    labels=st.dictionaries(st.sampled_from(["alertname", "Zeta", "user", "a", "B", "corp"]), _text, max_size=4),
    annotations=st.dictionaries(st.sampled_from(["description", "summary"]), _text, max_size=2),
    status=st.sampled_from(["firing", "resolved"]),
    severity=st.sampled_from(["critical", "high", "warning", "info", "odd"]),
    summary=_text, starts_at=st.none() | st.just("2026-11-29T10:00:00.000Z"))
_notifications = st.builds(
    Notification, receiver=st.just("ops"), group_key=_text, idempotency_key=st.just("k"),
    alerts=st.lists(_alert_items, max_size=3).map(tuple), title=_text, text=st.just("") | _text,
    markdown=st.just("") | _text,
    sso_links=st.lists(st.builds(SsoLink, label=_text, url=st.just("https://sso.example/r?t=1")),
                       max_size=2).map(tuple))


#: each chat sink's own palette (from its encoder), and none (plain bold)
_PALETTES: dict[str, Palette | None] = {"wecom": WECOM_COLORS, "dingtalk": DINGTALK_COLORS, "feishu": FEISHU_COLORS,
                                         "plain": None}


@functools.cache
def _renderers(language: Language, palette: str) -> tuple[MessageRenderer, dict[str, Any]]:
    r = MessageRenderer(language, colors=_PALETTES[palette])
    return r, {name: r.reference(name) for name in ("title", "text", "markdown")}


@settings(max_examples=300, deadline=None)
@given(n=_notifications, language=st.sampled_from(["zh", "en"]),
       palette=st.sampled_from(sorted(_PALETTES)))
def test_builtins_equal_the_shipped_jinja_templates(n: Notification, language: Language, palette: str) -> None:
    """The plain-Python built-ins render exactly what templates/<language>/*.j2 render in the sandbox."""
    r, reference = _renderers(language, palette)
    context = r._context(n)
    title = reference["title"].render({k: v for k, v in context.items() if k != "title"}).strip()
    assert r.title(n) == title
    assert r.text(n) == reference["text"].render({**context, "title": title}).strip()
    assert r.markdown(n) == reference["markdown"].render({**context, "title": title}).strip()


def test_a_user_title_feeds_the_builtin_bodies_and_is_rendered_once(make: Callable[..., Notification]) -> None:
    r = MessageRenderer("en", TemplateSettings(title="custom {{ alerts|length }}"))
    renders = 0
    template = r._templates["title"]
    original = template.render

    def counting(*args: object, **kwargs: object) -> str:
        nonlocal renders
        renders += 1
        return original(*args, **kwargs)

    template.render = counting  # type: ignore[method-assign]
    n = make()
    assert r.title(n) == "custom 2"
    assert r.text(n).startswith("custom 2\n1. [CRITICAL]")
    assert r.markdown(n).startswith("## custom 2\n")
    assert renders == 1


@settings(max_examples=300, deadline=None)
@given(value=_text | st.integers() | st.none())
def test_safe_and_md_equal_their_plain_replacements(value: Any) -> None:
    """`safe` and `md` skip the copies when there is nothing to replace; the result is what the three (four)
    replacements give."""
    from pipeline.sinks.delivery.templates import md, safe

    want = str(value).replace("\r", "").replace("<", "＜").replace(">", "＞")
    assert safe(value) == want and type(safe(value)) is str
    assert md(value) == want.replace("\n", " ")
