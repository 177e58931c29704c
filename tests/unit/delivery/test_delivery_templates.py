"""Default templates in Chinese and English, overrides, and untrusted text kept harmless."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.sinks.delivery.notification import AlertItem, Notification
from pipeline.sinks.delivery.templates import MessageRenderer, TemplateError, TemplateSettings


def test_chinese_defaults(make: Callable[..., Notification]) -> None:
    r = MessageRenderer("zh", flavor="wecom")
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
    r = MessageRenderer("en", flavor="feishu")
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
    r = MessageRenderer("zh", flavor="wecom")
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
