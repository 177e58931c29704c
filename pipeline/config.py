"""The one YAML config: loading, section models, and errors that name the field and the fix.

Each unit owns the model of its section (ingest: sources/config.py, worker: worker/config.py, alerting:
transforms/routing/section.py, actions: actions/config.py, auth, kafka); this module composes them.
Every section is a typed model, so `PipelineConfig.model_validate` is the one validation: rule pack, route
tree, receivers, SIEM sinks and actions included. `check_config` runs that same validation and turns its
errors into issues with a path and a fix hint. Secrets are references ("env:NAME" or "file:/path"), resolved
when a process starts, never inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.actions.config import ActionsConfig
from pipeline.auth.config import AuthConfig
from pipeline.kafka import KafkaSettings
from pipeline.secrets import SecretResolutionError, resolve_secret
from pipeline.sinks.registry import deprecated_siem_keys
from pipeline.sources.config import IngestConfig
from pipeline.sso_gateway import MIN_SECRET_CHARS
from pipeline.transforms.routing.section import AlertingSection
from pipeline.worker.config import WorkerSection


class PipelineConfig(BaseModel):
    """Top level of the YAML file. Sections a process does not use may be omitted."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    auth: AuthConfig = Field(default_factory=AuthConfig, description="who may call the HTTP APIs (docs/operations.md)")
    ingest: IngestConfig | None = Field(None, description="pipeline ingest: corps, pollers, HTTP endpoints")
    worker: WorkerSection = Field(default_factory=WorkerSection)
    alerting: AlertingSection = Field(default_factory=AlertingSection)
    actions: ActionsConfig | None = Field(None, description="HR lifecycle and security responses")

    @field_validator("actions", mode="before")
    @classmethod
    def _no_actions(cls, value: Any) -> Any:
        return None if value == {} else value

    @model_validator(mode="before")
    @classmethod
    def _share_kafka(cls, data: Any) -> Any:
        """`ingest` uses the top-level `kafka` and `auth` sections unless it has its own."""
        if isinstance(data, dict) and isinstance(data.get("ingest"), dict):
            for shared in ("kafka", "auth"):
                if shared not in data["ingest"]:
                    data = {**data, "ingest": {**data["ingest"], shared: data.get(shared) or {}}}
        return data


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem at `path`. A warning (a deprecated spelling still read) does not make the file invalid."""

    path: str
    message: str
    hint: str
    warning: bool = False

    def __str__(self) -> str:
        head = "warning: " if self.warning else ""
        return f"{head}{self.path}: {self.message}" + (f" (fix: {self.hint})" if self.hint else "")


class ConfigError(ValueError):
    """Every problem found in a config file, each with its path and a fix hint."""

    def __init__(self, source: str, issues: list[ConfigIssue]) -> None:
        self.source = source
        self.issues = issues
        super().__init__(f"{source}: {len(issues)} problem(s)\n" + "\n".join(f"  - {i}" for i in issues))


_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check the spelling against the example config",
    "literal_error": "use one of the allowed values",
    "int_parsing": "use a whole number",
    "float_parsing": "use a number",
    "bool_parsing": "use true or false",
    "greater_than_equal": "use a larger value",
    "less_than_equal": "use a smaller value",
    "greater_than": "use a larger value",
    "string_pattern_mismatch": "use the documented format",
    "url_parsing": "use a full URL such as http://host:port/path",
}


def issues_from_validation(err: ValidationError, prefix: str = "") -> list[ConfigIssue]:
    """One issue per error. A section validator that found several problems (the rule pack's and the route
    tree's own parsers: an exception with `errors`, "location: problem" lines, and a `hint`) gives one issue
    per line, under the section's path."""
    out = []
    for e in err.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e["loc"]).replace(".[", "[")
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "<root>")
        cause = (e.get("ctx") or {}).get("error")
        lines = getattr(cause, "errors", None)
        if isinstance(lines, list) and lines:
            out.extend(_section_issues(path, [str(line) for line in lines], str(getattr(cause, "hint", ""))))
            continue
        out.append(ConfigIssue(path, e["msg"], _HINTS.get(e["type"], "")))
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(p), [ConfigIssue("<file>", f"cannot read: {exc.strerror}", "check the path")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<file>"
        raise ConfigError(str(p), [ConfigIssue(where, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                               "fix the YAML syntax")]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(str(p), [ConfigIssue("<root>", "the file must hold a mapping", "start with 'kafka:'")])
    return data


def load_config(path: str | Path) -> PipelineConfig:
    data = load_yaml(path)
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), issues_from_validation(exc)) from exc


def _section_issues(prefix: str, lines: list[str], hint: str) -> list[ConfigIssue]:
    """'location: problem' lines from a section's own validator -> issues under `prefix`."""
    out = []
    for line in lines:
        loc, sep, msg = line.partition(": ")
        if sep and " " not in loc.strip():
            out.append(ConfigIssue(f"{prefix}.{loc.strip()}".replace(".[", "["), msg, hint))
        else:
            out.append(ConfigIssue(prefix, line, hint))
    return out


def check_config(path: str | Path, *, resolve_secrets: bool = False) -> list[ConfigIssue]:
    """Every problem in the file: the one validation of all sections (each unit's model checks its own part:
    rule pack, route tree, receivers, SIEM sinks, actions), then cross-section requirements, then (with
    `resolve_secrets`) every secret reference."""
    try:
        data = load_yaml(path)
    except ConfigError as exc:
        return exc.issues
    issues: list[ConfigIssue] = []
    try:
        cfg = PipelineConfig.model_validate(data, context={"resolve_secrets": resolve_secrets})
    except ValidationError as exc:
        issues.extend(issues_from_validation(exc))
    else:
        issues.extend(_cross_checks(cfg))
    siem = data.get("worker", {}).get("siem") if isinstance(data.get("worker"), dict) else None
    if isinstance(siem, list):  # still valid, so not a validation error: a warning
        issues.extend(ConfigIssue(f"worker.siem[{i}].type", message, "rename the key; 'type:' is read as 'kind:' "
                                  "for now", warning=True) for i, message in deprecated_siem_keys(siem))
    if resolve_secrets:
        reported = {i.path for i in issues}
        for where, ref in _secret_refs(data):
            if where in reported:
                continue
            try:
                value = resolve_secret(ref)
            except SecretResolutionError as exc:
                issues.append(ConfigIssue(where, str(exc), "set the variable or create the file"))
                continue
            if where == "ingest.sso_gateway.secret" and len(value) < MIN_SECRET_CHARS:
                issues.append(ConfigIssue(where, f"the gateway secret is shorter than {MIN_SECRET_CHARS} "
                                          "characters", "use e.g. `openssl rand -base64 32`"))
    return issues


def _cross_checks(cfg: PipelineConfig) -> list[ConfigIssue]:
    issues = []
    agents = set(cfg.worker.agents)
    if agents & {"alerting", "delivery"} and not cfg.alerting.routing:
        issues.append(ConfigIssue("alerting.routing", "the alerting/delivery agents need a route tree and receivers",
                                  "add alerting.routing.route and alerting.routing.receivers"))
    if "actions" in agents and (cfg.ingest is None or not cfg.ingest.corps):
        issues.append(ConfigIssue("ingest.corps", "the actions agent needs each corp's Exmail credentials",
                                  "add ingest.corps with the contact and function_setting secrets"))
    if not cfg.auth.has_credentials and not cfg.auth.insecure_anonymous_admin_on_loopback:
        serving: list[str] = sorted(agents & {"alerting", "actions"}) if cfg.worker.http_port else []
        if cfg.ingest is not None and cfg.ingest.sso is not None and not cfg.ingest.auth.has_credentials:
            serving.append("ingest.sso")
        if serving:
            issues.append(ConfigIssue("auth.tokens", f"{', '.join(serving)} serve state-changing HTTP APIs and no "
                                      "credential is configured: the processes would refuse to start",
                                      "add auth.tokens (docs/operations.md, Security)"))
    if cfg.alerting.sso is not None and (cfg.ingest is None or cfg.ingest.sso is None):
        issues.append(ConfigIssue("ingest.sso", "alerts carry SSO links but no ingest process serves the redirector",
                                  "add ingest.sso with the same secret reference as alerting.sso.secret"))
    elif cfg.alerting.sso is not None and cfg.ingest is not None and cfg.ingest.sso is not None \
            and cfg.alerting.sso.secret != cfg.ingest.sso.secret:
        issues.append(ConfigIssue("alerting.sso.secret", "differs from ingest.sso.secret: links would be refused",
                                  "reference the same env var or file in both"))
    return issues


def _secret_refs(node: Any, path: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _secret_refs(v, f"{path}.{k}" if path else str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _secret_refs(v, f"{path}[{i}]")
    elif isinstance(node, str) and node.startswith(("env:", "file:")):
        out.append((path, node))
    return out
