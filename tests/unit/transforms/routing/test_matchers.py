"""Label matchers, from Alertmanager docs/configuration.md §"Label matchers" and the `<regex>` placeholder note."""

from __future__ import annotations

import pytest

from pipeline.transforms.routing.matchers import Matcher, MatcherError, matchers_string, parse_matchers


@pytest.mark.parametrize(("text", "expected"), [
    ('alertname="Watchdog"', [("alertname", "=", "Watchdog")]),
    ("alertname = Watchdog", [("alertname", "=", "Watchdog")]),
    ('severity =~ "warning|critical"', [("severity", "=~", "warning|critical")]),
    ('{alertname="Watchdog", severity=~"warning|critical"}',
     [("alertname", "=", "Watchdog"), ("severity", "=~", "warning|critical")]),
    ('{alertname="Watchdog", severity=~"warning|critical",}',
     [("alertname", "=", "Watchdog"), ("severity", "=~", "warning|critical")]),
    ('alertname="Watchdog", severity=~"warning|critical"',
     [("alertname", "=", "Watchdog"), ("severity", "=~", "warning|critical")]),
    ('{\n   alertname = "Watchdog",\n   severity =~ "warning|critical",\n}',
     [("alertname", "=", "Watchdog"), ("severity", "=~", "warning|critical")]),
    ("dings != bums", [("dings", "!=", "bums")]),
    ('foo = "bar,baz"', [("foo", "=", "bar,baz")]),
    ('quote=~"She said: \\"Hi, all!( How\'re you…)?\\""', [("quote", "=~", 'She said: "Hi, all!( How\'re you…)?"')]),
    ('x!~"a.*"', [("x", "!~", "a.*")]),
    ("service=~mysql|cassandra", [("service", "=~", "mysql|cassandra")]),
    ('foo=""', [("foo", "=", "")]),
    ("foo=", [("foo", "=", "")]),
    ('"label with space"="v"', [("label with space", "=", "v")]),
    ('re="\\\\d+"', [("re", "=", "\\d+")]),
    ("", []),
])
def test_matcher_syntax(text: str, expected: list[tuple[str, str, str]]) -> None:
    """docs/configuration.md §"Composition of matchers" and §"More examples": lists, braces, trailing comma,
    whitespace, quoting and escapes."""
    assert [(m.name, m.op, m.value) for m in parse_matchers(text)] == expected


@pytest.mark.parametrize("text", [
    '{alertname="Watchdog", severity=~"warning|critical"',
    'alertname="Watchdog", severity=~"warning|critical"}',
    "alertname",
    'a="unterminated',
    'a="b" c="d"',
    'a=~"("',
])
def test_matcher_syntax_errors(text: str) -> None:
    """docs/configuration.md: braces must be both present or both absent; an operator is required."""
    with pytest.raises(MatcherError):
        parse_matchers(text)


def test_regex_is_anchored() -> None:
    """docs/configuration.md `<regex>`: "The regex is anchored on both ends. To un-anchor the regex, use
    .*<regex>.*"."""
    [m] = parse_matchers('service=~"sql"')
    assert not m.matches({"service": "mysql"})
    assert m.matches({"service": "sql"})
    [m] = parse_matchers('service=~".*sql.*"')
    assert m.matches({"service": "mysql-primary"})
    [m] = parse_matchers('service=~"mysql|cassandra"')
    assert m.matches({"service": "cassandra"}) and not m.matches({"service": "mysql2"})
    [m] = parse_matchers('service!~"mysql|cassandra"')
    assert m.matches({"service": "mysql2"}) and not m.matches({"service": "mysql"})


def test_missing_label_is_empty() -> None:
    """docs/configuration.md §inhibit_rule: "a missing label and a label with an empty value are the same"."""
    assert Matcher.create("a", "=", "").matches({})
    assert Matcher.create("a", "!=", "x").matches({})
    assert Matcher.create("a", "=~", ".*").matches({})
    assert not Matcher.create("a", "=~", ".+").matches({})
    assert Matcher.create("a", "!~", "x").matches({})


def test_api_shape_round_trip() -> None:
    """Alertmanager API v2 matcher objects {name, value, isRegex, isEqual}."""
    for text in ('a="1"', 'a!="1"', 'a=~"1|2"', 'a!~"1"'):
        [m] = parse_matchers(text)
        assert Matcher.from_api(m.to_api()) == m
        assert Matcher.from_api(str(m)) == m
    assert matchers_string(parse_matchers('b="2",a=~"x"')) == '{b="2",a=~"x"}'
    with pytest.raises(MatcherError):
        Matcher.from_api({"name": "a"})
