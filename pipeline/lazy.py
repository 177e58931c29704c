"""Package names imported on first use (PEP 562), for packages whose settings every process reads but whose
implementation only some processes run: `__getattr__ = lazy_attributes(__name__, {"module": ["Name", ...]})`,
with the same names imported under `if TYPE_CHECKING:` so type checkers and the import graph still see them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any


def lazy_attributes(package: str, where: Mapping[str, Iterable[str]]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports `<package>.<module>` for a name of `where` when it is first asked for,
    and keeps the value on the package so the next lookup is a plain attribute."""
    module_of = {name: module for module, names in where.items() for name in names}

    def __getattr__(name: str) -> Any:
        module = module_of.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
