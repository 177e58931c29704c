"""Rule pack configuration: pydantic models, `$param` substitution and loading with errors that name the field.

A pack is `params` (named values the rules reference as "$name"), `defaults` and `rules`. See README.md in this
folder for every field; default_rules.yaml is the shipped pack.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from pipeline.transforms.rules._fields import compile_path
from pipeline.transforms.rules._templates import CompiledTemplates
from pipeline.transforms.rules.durations import Duration

DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.yaml")
CORP_DOMAINS = "$corp_domains"  # resolved per event from the corp's own domains, not from params
RESERVED_LABELS = frozenset({"alertname", "severity", "corp"})

Scalar = str | int | float | bool
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_LABEL_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPERATORS = ("eq", "ne", "in_", "not_in", "regex", "not_regex", "exists", "domain_in", "domain_not_in")


class RulesConfigError(ValueError):
    """The rule pack is invalid; `errors` lists "location: problem" lines, one per problem."""

    hint = "fix the rule pack (pipeline/transforms/rules/README.md)"  # shown by `pipeline check-config`

    def __init__(self, errors: list[str], source: str = "rules") -> None:
        self.errors = errors
        super().__init__(f"{source}: " + ("; ".join(errors) if len(errors) == 1 else
                                           "\n  " + "\n  ".join(errors)))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FieldMatcherConfig(_Model):
    """One condition on one field; exactly one operator. Arrays match when any element satisfies it."""

    field: str = Field(min_length=1, description="dotted ECS path, e.g. email.from.address")

    @field_validator("field")
    @classmethod
    def _path(cls, v: str) -> str:
        compile_path(v)
        return v

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    regex: str | None = None
    not_regex: str | None = None
    exists: bool | None = None
    domain_in: list[str] | None = None
    domain_not_in: list[str] | None = None
    ignore_case: bool = False

    @model_validator(mode="after")
    def _one_operator(self) -> FieldMatcherConfig:
        given = [op for op in _OPERATORS if getattr(self, op) is not None]
        if len(given) != 1:
            names = ", ".join(op.rstrip("_") for op in _OPERATORS)
            raise ValueError(f"give exactly one operator of {names} (got {len(given)})")
        for op in ("regex", "not_regex"):
            pattern = getattr(self, op)
            if pattern is not None:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{op} {pattern!r} does not compile: {exc}") from exc
        for op in ("in_", "not_in", "domain_in", "domain_not_in"):
            values = getattr(self, op)
            if values is not None and CORP_DOMAINS in values and not op.startswith("domain"):
                raise ValueError(f"{CORP_DOMAINS} is only valid in domain_in / domain_not_in")
        return self

    @property
    def operator(self) -> str:
        return next(op for op in _OPERATORS if getattr(self, op) is not None)


class RuleDefaults(_Model):
    severity: str = "warning"
    resolve_timeout: Duration = 300.0


class RuleConfig(_Model):
    name: str
    description: str = ""
    type: Literal["match", "count", "rate", "first_seen"] = "match"
    enabled: bool = True
    severity: str | None = None
    match: list[FieldMatcherConfig] = Field(default_factory=list, description="all must hold")
    labels_from: dict[str, str] = Field(default_factory=lambda: {"user": "user.email"},
                                        description="label -> field; for stateful rules also the state key")
    labels: dict[str, str] = Field(default_factory=dict, description="static labels")
    annotations: dict[str, str] = Field(default_factory=dict, description="Jinja templates (summary, summary_zh)")
    resolve_timeout: Duration | None = None
    action: str | None = None
    sso_user_field: str | None = None
    # count / rate
    window: Duration | None = None
    threshold: int | None = Field(None, ge=1)
    rate: float | None = Field(None, gt=0)
    per: Duration = 60.0
    buckets: int = Field(60, ge=1, le=600, description="window resolution: window / buckets")
    # first_seen
    value: str | None = None
    value_label: str = "value"
    warmup: Duration = 0.0
    warmup_scope: Literal["corp", "key"] = "corp"
    alert_on_empty_history: bool = False
    max_values: int = Field(100, ge=1, le=10_000)
    value_ttl: Duration = 90 * 86400.0

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(f"rule name {v!r} must match {_NAME_RE.pattern}")
        return v

    @field_validator("labels_from", "labels")
    @classmethod
    def _label_names(cls, v: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        for label, target in v.items():
            if info.field_name == "labels_from":
                compile_path(target)
            if not _LABEL_RE.match(label):
                raise ValueError(f"label name {label!r} must match {_LABEL_RE.pattern}")
            if label in RESERVED_LABELS:
                raise ValueError(f"label {label!r} is set by the engine (alertname, severity, corp)")
        return v

    @field_validator("annotations")
    @classmethod
    def _templates_compile(cls, v: dict[str, str]) -> dict[str, str]:
        CompiledTemplates(v)
        return v

    @field_validator("sso_user_field", "value")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None:
            compile_path(v)
        return v

    @model_validator(mode="after")
    def _by_type(self) -> RuleConfig:
        stateful = ("window", "threshold", "rate", "value")
        allowed = {"match": (), "count": ("window", "threshold"), "rate": ("window", "rate"),
                   "first_seen": ("value",)}[self.type]
        for name in stateful:
            if name in allowed and getattr(self, name) is None:
                raise ValueError(f"a {self.type} rule needs {name!r}")
            if name not in allowed and getattr(self, name) is not None:
                raise ValueError(f"{name!r} does not apply to a {self.type} rule")
        if self.window is not None and self.window <= 0:
            raise ValueError("window must be positive")
        if self.type == "first_seen":
            if not _LABEL_RE.match(self.value_label) or self.value_label in RESERVED_LABELS:
                raise ValueError(f"value_label {self.value_label!r} is not a usable label name")
            if self.value_label in self.labels_from:
                raise ValueError(f"value_label {self.value_label!r} is also in labels_from")
        if self.type != "match" and not self.match:
            raise ValueError("a stateful rule needs at least one matcher")
        return self


class RulePackConfig(_Model):
    version: Literal[1] = 1
    params: dict[str, Any] = Field(default_factory=dict)
    defaults: RuleDefaults = Field(default_factory=RuleDefaults)
    rules: list[RuleConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RulePackConfig:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"rule name {rule.name!r} is used twice")
            seen.add(rule.name)
        return self


def parse_rules(obj: Any, params: Mapping[str, Any] | None = None, *, source: str = "rules") -> RulePackConfig:
    """Validate a rule pack given as a dict (or YAML text); `params` override the pack's own `params`."""
    if isinstance(obj, str):
        try:
            obj = yaml.safe_load(obj)
        except yaml.YAMLError as exc:
            raise RulesConfigError([f"not valid YAML: {exc}"], source) from exc
    if obj is None:
        obj = {}
    if not isinstance(obj, dict):
        raise RulesConfigError([f"a rule pack must be a mapping, got {type(obj).__name__}"], source)
    merged = dict(obj.get("params") or {})
    merged.update(params or {})
    errors: list[str] = []
    rules = obj.get("rules")
    substituted = dict(obj, params=merged)
    if isinstance(rules, list):
        substituted["rules"] = [_substitute(rule, merged, f"rules[{i}]", errors) for i, rule in enumerate(rules)]
    if errors:
        raise RulesConfigError(errors, source)
    try:
        return RulePackConfig.model_validate(substituted)
    except ValidationError as exc:
        raise RulesConfigError(_describe(exc, substituted), source) from None


def load_rules(path: str | Path, params: Mapping[str, Any] | None = None) -> RulePackConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesConfigError([f"cannot read: {exc.strerror}"], str(p)) from exc
    return parse_rules(text, params, source=str(p))


def load_default_rules(params: Mapping[str, Any] | None = None) -> RulePackConfig:
    return load_rules(DEFAULT_RULES_PATH, params)


def _substitute(node: Any, params: Mapping[str, Any], where: str, errors: list[str]) -> Any:
    """Replace "$name" strings by params[name]; a list parameter inside a list is spliced. "$$x" is "$x"."""
    if isinstance(node, dict):
        return {k: _substitute(v, params, f"{where}.{k}", errors) for k, v in node.items()}
    if isinstance(node, list):
        out: list[Any] = []
        for i, item in enumerate(node):
            value = _substitute(item, params, f"{where}[{i}]", errors)
            if isinstance(item, str) and _is_ref(item) and isinstance(value, list):
                out.extend(value)
            else:
                out.append(value)
        return out
    if isinstance(node, str) and _is_ref(node):
        name = node[1:]
        if node == CORP_DOMAINS:
            return node
        if name not in params:
            errors.append(f"{where}: unknown parameter {node} (define it under params:)")
            return node
        return params[name]
    if isinstance(node, str) and node.startswith("$$"):
        return node[1:]
    return node


def _is_ref(s: str) -> bool:
    return s.startswith("$") and not s.startswith("$$") and len(s) > 1


def _describe(exc: ValidationError, obj: dict[str, Any]) -> list[str]:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        parts: list[str] = []
        for i, item in enumerate(loc):
            if isinstance(item, int):
                parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
                if loc[:i] == ["rules"]:
                    name = _rule_name(obj, item)
                    if name:
                        parts[-1] += f" ({name})"
            elif item == "in_":
                parts.append("in")
            else:
                parts.append(str(item))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{'.'.join(parts)}: {msg}" if parts else msg)
    return lines


def _rule_name(obj: dict[str, Any], index: int) -> str | None:
    rules = obj.get("rules")
    if isinstance(rules, list) and index < len(rules) and isinstance(rules[index], dict):
        name = rules[index].get("name")
        return name if isinstance(name, str) else None
    return None


class RulesSection(BaseModel):
    """The `alerting.rules` section of the pipeline config: which pack, with which params. The pack is loaded
    and checked when the config is validated (once), and kept: `pack` is what the rules agent runs."""

    model_config = ConfigDict(extra="forbid")

    file: Path | None = Field(None, description="a rule pack YAML; default: the shipped default pack")
    params: dict[str, Any] = Field(default_factory=dict, description="overrides of the pack's params")
    _pack: RulePackConfig | None = PrivateAttr(None)

    @model_validator(mode="after")
    def _load_pack(self) -> RulesSection:
        self._pack = load_rules(self.file, self.params) if self.file else load_default_rules(self.params)
        return self

    @property
    def pack(self) -> RulePackConfig:
        assert self._pack is not None  # set by validation
        return self._pack
