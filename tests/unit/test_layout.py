"""Unit tests mirror the source tree, so a module's tests are found by its path: the tests of
pipeline/<package>/<module>.py live in tests/unit/<package>/test_<module>[_<aspect>].py (a private module
`_<module>.py` drops its underscore; a subpackage counts as a module of its parent). This test fails for a test
file whose directory is not a package of pipeline/ or whose name starts with no module of that package, and for
an integration test directory that names no package or module of pipeline/."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parent
INTEGRATION = UNIT.parent / "integration"
PIPELINE = UNIT.parents[1] / "pipeline"

# Suites that test something other than one pipeline module; keep this list short and say why.
EXEMPT = {
    "test_layout.py",  # this test: the layout of the tests themselves
    "test_imports.py",  # import rules over the whole of pipeline/ (part core)
    "ops",  # ops/ scripts and files (compose, Dockerfile, Grafana, Prometheus): not pipeline modules
    "bench",  # ops/bench helpers
}


def _package(rel: Path, pipeline: Path = PIPELINE) -> Path | None:
    """The pipeline package a test directory mirrors (tests/unit itself mirrors pipeline/)."""
    path = pipeline / rel
    return path if (path / "__init__.py").is_file() else None


def _modules(package: Path) -> set[str]:
    """Names a test file may start with: modules and subpackages, private ones without their underscore."""
    names = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    return {n.lstrip("_") for n in names}


def misplaced(unit: Path = UNIT, pipeline: Path = PIPELINE) -> list[str]:
    out = []
    for test in sorted(unit.rglob("test_*.py")):
        rel = test.relative_to(unit)
        if rel.parts[0] in EXEMPT or rel.as_posix() in EXEMPT:
            continue
        package = _package(rel.parent, pipeline)
        if package is None:
            out.append(f"{rel}: pipeline/{rel.parent.as_posix()} is not a package")
            continue
        stem = test.stem.removeprefix("test_")
        if not any(stem == name or stem.startswith(name + "_") for name in _modules(package)):
            out.append(f"{rel}: no module of pipeline/{package.relative_to(pipeline).as_posix()} named "
                       f"{stem.split('_')[0]!r}...; name it test_<module>[_<aspect>].py")
    return out


def test_every_unit_test_file_mirrors_a_module() -> None:
    bad = misplaced()
    assert not bad, "test files that do not mirror pipeline/:\n" + "\n".join(bad)


def misplaced_integration_dirs(integration: Path = INTEGRATION, pipeline: Path = PIPELINE) -> list[str]:
    """Integration test directories that name no package or module of pipeline/ (files there may span several
    modules: they drive whole processes)."""
    out = []
    for directory in sorted({p.parent for p in integration.rglob("test_*.py")}):
        rel = directory.relative_to(integration)
        if rel == Path("."):
            continue
        if _package(rel, pipeline) is None and not (pipeline / rel).with_suffix(".py").is_file():
            out.append(f"tests/integration/{rel.as_posix()}: no pipeline/{rel.as_posix()}[.py]")
    return out


def test_every_integration_test_directory_mirrors_a_package_or_module() -> None:
    bad = misplaced_integration_dirs()
    assert not bad, "integration test directories that do not mirror pipeline/:\n" + "\n".join(bad)


def test_the_rule_on_a_small_tree(tmp_path: Path) -> None:
    pipeline, unit = tmp_path / "pipeline", tmp_path / "tests" / "unit"
    for module in ("__init__.py", "envelope.py", "exmail/__init__.py", "exmail/_dates.py", "exmail/crypto.py",
                   "sinks/__init__.py", "sinks/syslog/__init__.py"):
        (pipeline / module).parent.mkdir(parents=True, exist_ok=True)
        (pipeline / module).touch()
    good = ["test_envelope.py", "exmail/test_dates.py", "exmail/test_crypto_vectors.py", "sinks/test_syslog.py",
            "ops/test_anything.py", "exmail/conftest.py", "exmail/helpers.py"]
    bad = ["test_envelopes.py", "core/test_envelope.py", "exmail/test_crypt.py", "sinks/syslog/test_x.py"]
    for name in good + bad:
        (unit / name).parent.mkdir(parents=True, exist_ok=True)
        (unit / name).touch()
    assert [line.split(":")[0] for line in misplaced(unit, pipeline)] == sorted(bad)

    integration = tmp_path / "tests" / "integration"
    for name in ("exmail/test_a.py", "envelope/test_b.py", "admin/test_c.py", "test_top.py"):
        (integration / name).parent.mkdir(parents=True, exist_ok=True)
        (integration / name).touch()
    assert misplaced_integration_dirs(integration, pipeline) == ["tests/integration/admin: no pipeline/admin[.py]"]
