"""Annotation templates (Jinja, sandboxed, compiled once per rule).

Context: `labels`, `event` (the ECS document), `field(path)` (first value or ""), `fields(path, sep)` (all
values joined), `rule`, `corp`, `params`, and per rule type `count`, `threshold`, `window`, `rate`, `value`.
A template that fails at render time does not lose the alert: the annotation says what went wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from pipeline.transforms.rules._fields import compile_path, field_values

_ENV = SandboxedEnvironment(autoescape=False, undefined=ChainableUndefined, keep_trailing_newline=False)


class CompiledTemplates:
    def __init__(self, sources: Mapping[str, str]) -> None:
        self._templates = {}
        for name, source in sources.items():
            try:
                self._templates[name] = _ENV.from_string(source)
            except TemplateSyntaxError as exc:
                raise ValueError(f"annotation {name!r}: template error at line {exc.lineno}: {exc.message}") from exc

    def render(self, context: dict[str, Any]) -> dict[str, str]:
        doc = context.get("event") or {}
        ctx = dict(context, field=lambda path: _first(doc, path), fields=lambda path, sep=", ": _all(doc, path, sep))
        out = {}
        for name, template in self._templates.items():
            try:
                text = template.render(ctx)
            except Exception as exc:  # a broken template must not drop the alert
                out[name] = f"[template {name} failed: {type(exc).__name__}: {exc}]"
                continue
            lines = (" ".join(line.split()) for line in text.strip().splitlines())
            out[name] = "\n".join(line for line in lines if line)
        return out


def _first(doc: Any, path: str) -> str:
    values = field_values(doc, compile_path(path))
    return _text(values[0]) if values else ""


def _all(doc: Any, path: str, sep: str) -> str:
    seen: dict[str, None] = {}
    for v in field_values(doc, compile_path(path)):
        seen.setdefault(_text(v))
    return sep.join(seen)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_text(v)}" for k, v in value.items())
    return str(value)
