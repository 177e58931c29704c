"""Tolerant access to an ECS document by dotted path: nested objects, literal dotted keys, arrays at any level."""

from __future__ import annotations

from typing import Any

_MISSING = object()

Path = tuple[str, ...]


def compile_path(path: str) -> Path:
    parts = tuple(path.split("."))
    if not path or any(not p for p in parts):
        raise ValueError(f"invalid field path {path!r}")
    return parts


def field_values(doc: Any, parts: Path) -> list[Any]:
    """Every non-null value at `parts`; arrays anywhere on the way fan out (so "any element matches")."""
    node = doc
    for part in parts:
        if type(node) is dict:
            node = node.get(part, _MISSING)
            if node is _MISSING:
                return _slow(doc, parts)
        else:
            return _slow(doc, parts)
    out: list[Any] = []
    _leaf(node, out)
    return out


def first_value(doc: Any, parts: Path) -> Any:
    values = field_values(doc, parts)
    return values[0] if values else None


def _leaf(node: Any, out: list[Any]) -> None:
    if node is None:
        return
    if isinstance(node, list):
        for item in node:
            _leaf(item, out)
    else:
        out.append(node)


def _slow(doc: Any, parts: Path) -> list[Any]:
    out: list[Any] = []
    _collect(doc, parts, 0, out)
    return out


def _collect(node: Any, parts: Path, i: int, out: list[Any]) -> None:
    if i == len(parts):
        _leaf(node, out)
        return
    if isinstance(node, list):
        for item in node:
            _collect(item, parts, i, out)
        return
    if not isinstance(node, dict):
        return
    before = len(out)
    child = node.get(parts[i], _MISSING)
    if child is not _MISSING:
        _collect(child, parts, i + 1, out)
        if len(out) > before:
            return
    for j in range(i + 2, len(parts) + 1):
        flat = ".".join(parts[i:j])
        if flat in node:
            _collect(node[flat], parts, j, out)
            if len(out) > before:
                return
