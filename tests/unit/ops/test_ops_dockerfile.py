"""Dockerfile structure (no hadolint in Debian): it installs this project, runs the `pipeline` console script
as an unprivileged user, ships the JSON Schemas where the code looks for them, and copies only files that
exist and that .dockerignore lets through."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from pathlib import Path

import pytest

from pipeline import schema_registry

Instruction = tuple[str, str]


def _instructions(repo: Path) -> list[Instruction]:
    """(KEYWORD, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in (repo / "Dockerfile").read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends in a line continuation"
    split = [text.split(None, 1) for text in joined]
    return [(parts[0].upper(), parts[1] if len(parts) > 1 else "") for parts in split]


def _stages(instructions: list[Instruction]) -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def _env(stage: list[Instruction]) -> dict[str, str]:
    found: dict[str, str] = {}
    for keyword, args in stage:
        if keyword == "ENV":
            found.update(re.findall(r"(\w+)=(\S+)", args))
    return found


def _ignored(repo: Path) -> list[str]:
    lines = (repo / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


@pytest.fixture(scope="module")
def instructions(repo: Path) -> list[Instruction]:
    return _instructions(repo)


@pytest.fixture(scope="module")
def pyproject(repo: Path) -> dict[str, object]:
    data: dict[str, object] = tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    return data


def test_parser_joins_continuations(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("# c\nFROM x AS b\nRUN a \\\n    && b\n\nCMD [\"y\"]\n")
    assert _instructions(tmp_path) == [("FROM", "x AS b"), ("RUN", "a && b"), ("CMD", '["y"]')]


def test_python_version_satisfies_the_project(instructions: list[Instruction],
                                              pyproject: dict[str, object]) -> None:
    args = dict(arg.split("=", 1) for keyword, arg in instructions if keyword == "ARG" and "=" in arg)
    froms = [arg for keyword, arg in instructions if keyword == "FROM"]
    assert len(froms) == 2, "a build stage and a runtime stage"
    assert all(f.startswith("python:${PYTHON_VERSION}-slim") for f in froms)
    project = pyproject["project"]
    assert isinstance(project, dict)
    minimum = tuple(int(p) for p in project["requires-python"].removeprefix(">=").split("."))
    assert tuple(int(p) for p in args["PYTHON_VERSION"].split(".")) >= minimum


def test_the_image_installs_this_project(instructions: list[Instruction],
                                         pyproject: dict[str, object]) -> None:
    build, runtime = _stages(instructions)
    project = pyproject["project"]
    assert isinstance(project, dict)
    build_runs = " ".join(args for keyword, args in build if keyword == "RUN")
    assert re.search(r"pip wheel .*--wheel-dir /wheels \.(\s|$)", build_runs)
    copies = [args for keyword, args in build if keyword == "COPY"]
    assert "pyproject.toml README.md ./" in copies and "pipeline ./pipeline" in copies
    assert project["readme"] == "README.md"
    runtime_runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    assert f"--no-index --find-links /tmp/wheels {project['name']}" in runtime_runs
    assert "pipeline --version" in runtime_runs


def test_the_image_runs_the_pipeline_console_script(instructions: list[Instruction],
                                                    pyproject: dict[str, object]) -> None:
    scripts = pyproject["project"]["scripts"]  # type: ignore[index]
    assert scripts["pipeline"] == "pipeline.cli:main"
    last = {keyword: args for keyword, args in instructions if keyword in ("CMD", "ENTRYPOINT")}
    assert "ENTRYPOINT" not in last, "compose commands start with the program (pipeline or python)"
    assert last["CMD"].startswith('["pipeline"'), "exec form, the pipeline console script"


def test_the_image_runs_unprivileged(instructions: list[Instruction]) -> None:
    _, runtime = _stages(instructions)
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    runs = " ".join(args for keyword, args in runtime if keyword == "RUN")
    assert f"install -d -o {users[-1]} -g {users[-1]} /shared" in runs, "the shared volume must be writable"


def test_schemas_are_shipped_where_the_code_looks(instructions: list[Instruction], repo: Path) -> None:
    _, runtime = _stages(instructions)
    env = _env(runtime)
    target = env[schema_registry.SCHEMA_DIR_ENV]
    assert ("COPY", f"schemas {target}") in runtime
    assert (repo / "schemas").is_dir()


def test_copied_sources_exist_and_are_not_ignored(instructions: list[Instruction], repo: Path) -> None:
    patterns = _ignored(repo)
    for keyword, args in instructions:
        if keyword != "COPY" or args.startswith("--from="):
            continue
        for source in args.split()[:-1]:
            assert (repo / source).exists(), source
            assert not any(fnmatch.fnmatch(source, p) for p in patterns), f"{source} is in .dockerignore"


def test_dockerignore_keeps_local_state_out(repo: Path) -> None:
    patterns = set(_ignored(repo))
    assert {".git", ".venv", ".state", "**/__pycache__", "tests", ".env"} <= patterns
