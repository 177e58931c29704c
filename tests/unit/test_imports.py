"""The import graph stays honest (issue 13): every arrow between modules is a module-level import, and nothing
imports upward into a process entry point.

1. An import inside a function (or method) hides an arrow from the graph. It is allowed only with a comment
   on its line or the line above saying why: an optional dependency, a cycle that cannot be broken, or a
   start-up cost that a command not using it should not pay.
2. Process entry points (`pipeline/cli.py`, `pipeline/worker/main.py`, the ingest process) are imported by
   nothing below them: they assemble units, units never reach back into them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "pipeline"

# entry point module (or package) -> the modules allowed to import it (the command that starts the process)
ENTRY_POINTS: dict[str, frozenset[str]] = {
    "pipeline.cli": frozenset(),
    "pipeline.worker.main": frozenset({"pipeline.cli", "pipeline.worker.cli"}),
    "pipeline.ingest": frozenset({"pipeline.cli"}),  # a package: its own modules (cli, _process) import each other
}


def _modules() -> Iterator[tuple[str, Path, ast.Module, list[str]]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        text = path.read_text(encoding="utf-8")
        yield ".".join(parts), path, ast.parse(text, str(path)), text.splitlines()


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Absolute names of what `node` imports (for `from x import y`: x and x.y, y may be a submodule)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if _is_package(path) else 0)
        base = ".".join(parts[:keep] + ([base] if base else []))
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _function_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    def visit(node: ast.AST, in_function: bool) -> Iterator[ast.Import | ast.ImportFrom]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import | ast.ImportFrom) and in_function:
                yield child
            inner = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            yield from visit(child, inner)

    yield from visit(tree, False)


def _has_reason(lines: list[str], node: ast.Import | ast.ImportFrom,
                import_lines: frozenset[int] = frozenset()) -> bool:
    """A comment with some words on the import's own lines, or just above the block of imports it is in."""
    end = node.end_lineno or node.lineno
    candidates = lines[node.lineno - 1:end]
    above = node.lineno - 1
    while above in import_lines:  # an import of the same block: the block's comment covers it
        above -= 1
    if above >= 1:
        candidates.append(lines[above - 1])
    for line in candidates:
        _, sep, comment = line.partition("#")
        if sep and len(comment.split()) >= 3:
            return True
    return False


def _lines_of(nodes: list[ast.Import | ast.ImportFrom]) -> frozenset[int]:
    return frozenset(n for node in nodes for n in range(node.lineno, (node.end_lineno or node.lineno) + 1))


def test_imports_inside_functions_say_why() -> None:
    silent = []
    for _module, path, tree, lines in _modules():
        found = list(_function_imports(tree))
        for node in found:
            if not _has_reason(lines, node, _lines_of(found)):
                silent.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not silent, ("imports inside functions without a comment saying why (move them to the top of the "
                        "module, or say why they cannot be there):\n  " + "\n  ".join(silent))


def _inside(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_nothing_imports_upward_into_a_process_entry_point() -> None:
    upward = []
    for module, path, tree, _ in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            for name in _imported(module, path, node):
                for entry, allowed in ENTRY_POINTS.items():
                    if _inside(name, entry) and not _inside(module, entry) and module not in allowed:
                        upward.append(f"{path.relative_to(ROOT)}:{node.lineno}: {module} imports {name}")
    assert not upward, "modules importing a process entry point:\n  " + "\n  ".join(sorted(set(upward)))


@pytest.mark.parametrize(("source", "found"), [
    ("def f():\n    import os\n", 1),
    ("def f():\n    # imported on use: xlsx only, 0.25 s\n    import os\n", 0),
    ("def f():\n    import os  # optional dependency: only with the extra\n", 0),
    ("import os\nif os:\n    import sys\n", 0),
    ("class A:\n    async def f(self):\n        from x import y\n", 1),
    ("def f():\n    # imported on use: start-up of the others\n    import os\n    from x import (\n        y,\n    )\n",
     0),
    ("def f():\n    # imported on use: start-up of the others\n    import os\n\n    import sys\n", 1),
])
def test_the_checker_sees_function_imports_and_their_reasons(source: str, found: int) -> None:
    tree = ast.parse(source)
    lines = source.splitlines()
    nodes = list(_function_imports(tree))
    assert sum(not _has_reason(lines, n, _lines_of(nodes)) for n in nodes) == found


def test_a_worker_does_not_import_what_it_only_configures() -> None:
    """The SSO gateway (LDAP, OIDC, JWT) and the actions service are ~0.2 s and ~0.3 s of start-up (worker start
    to healthy has a 3 s bound): every process reads their settings, only the ingest process runs the gateway
    and only a worker with the actions agent runs the service. Both load on first use."""
    heavy = ("ldap3", "jwt", "pipeline.sso_gateway._gateway", "pipeline.actions.service", "pipeline.worker.actions")
    code = ("import sys, pipeline.worker.main, pipeline.cli\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
            "from pipeline.sso_gateway import SsoGateway\n"
            "from pipeline.actions import ActionService, ActionsConfig\n"
            "print(SsoGateway.__module__, ActionService.__module__, ActionsConfig.__module__)\n"
            "import pipeline.actions as actions, pipeline.sso_gateway as gateway\n"
            "print(hasattr(actions, 'NoSuchName'), [f'{m.__name__}.{n}' for m in (actions, gateway)\n"
            "                                       for n in m.__all__ if getattr(m, n, None) is None])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.splitlines() == [
        "[]", "pipeline.sso_gateway._gateway pipeline.actions.service pipeline.actions.config", "False []",
    ], done.stdout + done.stderr
