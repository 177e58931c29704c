"""The JSON Schemas of every topic (schemas/ at the repository root), loaded once, compiled once per schema.

A schema is named by the `schema` value its envelopes carry ("exmail.raw.mail_log/1", "exmail.event/1",
"exmail.dlq/1", "hr.lifecycle/1"), plus "envelope/1" for the bare envelope; the file path without ".json"
("raw/mail_log.v1") works too. Each file's `title` is its name. Sources and sinks validate at their
boundaries with `validate(envelope["schema"], envelope)`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import orjson
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_DIR_ENV = "EXMAIL_SCHEMA_DIR"
_MAX_MESSAGE = 300


class UnknownSchemaError(LookupError):
    """No schema file has this name."""


def schema_dir() -> Path:
    """$EXMAIL_SCHEMA_DIR, else the repository's schemas/ next to the package (editable installs)."""
    override = os.environ.get(SCHEMA_DIR_ENV)
    return Path(override) if override else Path(__file__).resolve().parent.parent / "schemas"


@functools.cache
def _catalog() -> tuple[dict[str, dict[str, Any]], Registry[Any]]:
    root = schema_dir()
    if not root.is_dir():
        raise UnknownSchemaError(f"schema directory {root} does not exist (set {SCHEMA_DIR_ENV})")
    by_name: dict[str, dict[str, Any]] = {}
    resources: list[tuple[str, Resource[Any]]] = []
    for path in sorted(root.rglob("*.json")):
        contents = orjson.loads(path.read_bytes())
        if not isinstance(contents, dict) or "$id" not in contents:
            continue
        resources.append((contents["$id"], Resource.from_contents(contents, default_specification=DRAFT202012)))
        alias = path.relative_to(root).with_suffix("").as_posix()
        by_name[alias] = contents
        if isinstance(contents.get("title"), str):
            by_name[contents["title"]] = contents
    return by_name, Registry().with_resources(resources)


def schema_names() -> list[str]:
    """Every envelope schema name with a schema file (titles only, not path aliases)."""
    by_name, _ = _catalog()
    return sorted({s["title"] for s in by_name.values() if isinstance(s.get("title"), str)})


def schema(name: str) -> dict[str, Any]:
    by_name, _ = _catalog()
    try:
        return by_name[name]
    except KeyError:
        raise UnknownSchemaError(f"no schema named {name!r}; known: {', '.join(schema_names())}") from None


@functools.cache
def validator(name: str) -> Draft202012Validator:
    """The compiled validator for `name` (cached: built once per process)."""
    contents = schema(name)
    _, registry = _catalog()
    return Draft202012Validator(contents, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def validate(name: str, obj: Any) -> list[str]:
    """Errors of `obj` against schema `name`, each "<JSON path>: <message>", deepest first per path; [] = valid."""
    errors = []
    for err in validator(name).iter_errors(obj):
        leaf = _deepest(err)
        message = leaf.message if len(leaf.message) <= _MAX_MESSAGE else leaf.message[:_MAX_MESSAGE] + "..."
        errors.append((leaf.json_path, message))
    return [f"{path}: {message}" for path, message in sorted(set(errors))]


def _deepest(err: Any) -> Any:
    """For anyOf/oneOf failures, the sub-error that got furthest into the instance says more than the summary."""
    while err.context:
        err = max(err.context, key=lambda e: len(e.absolute_path))
    return err
