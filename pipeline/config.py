"""The one YAML config: loading, section models, and errors that name the field and the fix.

Each unit owns the model of its section (sources, worker, sinks, alerting, actions); this module composes
them. Secrets are references ("env:NAME" or "file:/path"), resolved when a process starts, never inline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.kafka import KafkaSettings
from pipeline.sources.config import IngestConfig
from pipeline.worker.config import AlertingSection, WorkerSection


class PipelineConfig(BaseModel):
    """Top level of the YAML file. Sections a process does not use may be omitted."""

    model_config = ConfigDict(extra="forbid")

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    ingest: IngestConfig | None = Field(None, description="pipeline ingest: corps, pollers, HTTP endpoints")
    worker: WorkerSection = Field(default_factory=WorkerSection)
    alerting: AlertingSection = Field(default_factory=AlertingSection)
    actions: dict[str, Any] = Field(default_factory=dict, description="HR lifecycle and security responses")

    @model_validator(mode="before")
    @classmethod
    def _share_kafka(cls, data: Any) -> Any:
        """`ingest` uses the top-level `kafka` section unless it has its own."""
        if isinstance(data, dict) and isinstance(data.get("ingest"), dict) and "kafka" not in data["ingest"]:
            data = {**data, "ingest": {**data["ingest"], "kafka": data.get("kafka") or {}}}
        return data


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    path: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" + (f" (fix: {self.hint})" if self.hint else "")


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
    out = []
    for e in err.errors():
        loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in e["loc"]).replace(".[", "[")
        path = f"{prefix}.{loc}" if prefix and loc else (prefix or loc or "<root>")
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
