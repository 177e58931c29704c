"""Fixtures for the ops checks: repository files, the metric catalog of pipeline.metrics, PromQL scans."""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

ROOT = Path(__file__).resolve().parents[3]

# labels Prometheus adds to every scraped series (job, instance) and the target labels of prometheus.yml
TARGET_LABELS = frozenset({"job", "instance", "process"})
_SUFFIXES = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
             "summary": ("", "_sum", "_count")}
_NAME = re.compile(r"\b(exmail_[A-Za-z0-9_]+)\b(\s*\{([^}]*)\})?")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")
_GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)\s*(\()?")


@dataclass(frozen=True)
class Series:
    """One queryable series name of a family: its family, type and allowed label names."""

    family: str
    kind: str
    labels: frozenset[str]


@dataclass(frozen=True)
class Reference:
    """A metric name found in a PromQL expression, with the label names its selector matches on."""

    name: str
    matchers: tuple[str, ...]


@dataclass(frozen=True)
class Grouping:
    """`by (...)` / `on (...)` labels and the metric names in the expression they group."""

    labels: tuple[str, ...]
    names: frozenset[str]


@pytest.fixture(scope="session")
def repo() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def metric_catalog() -> dict[str, Series]:
    """Queryable series name (exmail_x_total, exmail_y_bucket, ...) -> Series, for every registered family."""
    from pipeline import metrics

    registered = {family.name for family in metrics.REGISTRY.collect()}
    catalog: dict[str, Series] = {}
    for collector in vars(metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = frozenset(getattr(collector, "_labelnames", ()))
        for family in collector.describe():
            if family.name not in registered:
                continue
            for suffix in _SUFFIXES.get(family.type, ("",)):
                extra = {"le"} if suffix == "_bucket" else set()
                catalog[family.name + suffix] = Series(family.name, family.type, labels | extra)
    assert catalog, "pipeline.metrics defines no metric families"
    return catalog


def _references(expr: str) -> list[Reference]:
    return [Reference(m.group(1), tuple(_MATCHER.findall(m.group(3) or ""))) for m in _NAME.finditer(expr)]


def _groupings(expr: str) -> list[Grouping]:
    """Each grouping clause with the metric names it can group: for `sum by (l) (x)` those of x; for a
    clause after its operand (`sum(x) by (l)`) and for vector matching (`a / on (l) b`), the whole
    expression's."""
    found = []
    for match in _GROUPING.finditer(expr):
        labels = tuple(label.strip() for label in match.group(2).split(",") if label.strip())
        scope = expr
        if match.group(1) in ("by", "without") and match.group(3):
            depth, start = 0, match.end(3) - 1
            for end in range(start, len(expr)):
                depth += {"(": 1, ")": -1}.get(expr[end], 0)
                if depth == 0:
                    scope = expr[start:end + 1]
                    break
        found.append(Grouping(labels, frozenset(ref.name for ref in _references(scope))))
    return found


@pytest.fixture(scope="session")
def target_labels() -> frozenset[str]:
    return TARGET_LABELS


@pytest.fixture(scope="session")
def promql_references() -> Callable[[str], list[Reference]]:
    return _references


@pytest.fixture(scope="session")
def promql_groupings() -> Callable[[str], list[Grouping]]:
    return _groupings


@pytest.fixture(scope="session")
def alert_rules(repo: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load((repo / "ops" / "prometheus" / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in data["groups"] for rule in group["rules"]]


@pytest.fixture(scope="session")
def dashboard(repo: Path) -> dict[str, Any]:
    path = repo / "ops" / "grafana" / "dashboards" / "exmail-pipeline.json"
    data: dict[str, Any] = orjson.loads(path.read_bytes())
    return data


@pytest.fixture(scope="session")
def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expr) of every target, and ("variable <name>", query) of every query variable."""
    exprs = [(panel["title"], target["expr"])
             for panel in dashboard["panels"] for target in panel.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            exprs.append((f"variable {var['name']}", var["definition"]))
    return exprs


def _load_script(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the script is executed
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def dashboard_builder(repo: Path) -> ModuleType:
    """ops/grafana/build_dashboard.py, imported from its path (ops/ is not a package)."""
    path = repo / "ops" / "grafana" / "build_dashboard.py"
    return _load_script("exmail_ops_build_dashboard", path)


@pytest.fixture(scope="session")
def metrics_doc(repo: Path) -> ModuleType:
    path = repo / "ops" / "prometheus" / "metrics_doc.py"
    return _load_script("exmail_ops_metrics_doc", path)


@pytest.fixture(scope="session")
def compose(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((repo / "docker-compose.yml").read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="session")
def docker_config_path(repo: Path) -> Path:
    return repo / "examples" / "pipeline.docker.yaml"


@pytest.fixture(scope="session")
def promtool() -> Iterator[str]:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus': apt-get install -y prometheus)")
    yield path


@pytest.fixture(scope="session")
def command_option() -> Callable[[list[str], str], str]:
    """The value of `--name value` in an exec-form command."""

    def value(command: list[str], name: str) -> str:
        assert name in command, f"{name} missing from {command}"
        return command[command.index(name) + 1]

    return value


@pytest.fixture(scope="session")
def service_ports(compose: dict[str, Any], docker_config_path: Path,
                  command_option: Callable[[list[str], str], str]) -> dict[str, int]:
    """The port each pipeline service listens on, as the code derives it from the config file and command."""
    from pipeline.config import load_config
    from pipeline.sources.config import IngestConfig

    worker = load_config(docker_config_path).worker
    ingest = IngestConfig.from_file(docker_config_path)
    return {"ingest": ingest.http.port, "worker": worker.http_port,
            "sim": int(command_option(compose["services"]["sim"]["command"], "--port"))}


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool


@pytest.fixture(scope="session")
def volume_mounts() -> Callable[[dict[str, Any]], dict[str, Mount]]:
    """A compose service's short-syntax volumes ("source:target[:mode]") by source."""

    def mounts(service: dict[str, Any]) -> dict[str, Mount]:
        found = {}
        for volume in service.get("volumes", []):
            source, target, *mode = volume.split(":")
            found[source] = Mount(source, target, mode == ["ro"])
        return found

    return mounts
