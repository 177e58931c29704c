"""Package names imported on first use (pipeline.lazy), as pipeline.actions, pipeline.sso_gateway and
pipeline.transforms.routing use them."""

from __future__ import annotations

import sys
import types

import pytest

from pipeline.lazy import lazy_attributes


def test_a_name_is_imported_on_first_use_and_kept_on_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    package = types.ModuleType("lazy_pkg")
    package.__path__ = []
    module = types.ModuleType("lazy_pkg.impl")
    module.Thing = object()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "lazy_pkg", package)
    monkeypatch.setitem(sys.modules, "lazy_pkg.impl", module)
    getattr_ = lazy_attributes("lazy_pkg", {"impl": ["Thing"]})
    assert "Thing" not in vars(package)
    assert getattr_("Thing") is module.Thing  # type: ignore[attr-defined]
    assert vars(package)["Thing"] is module.Thing  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="'lazy_pkg' has no attribute 'Other'"):
        getattr_("Other")
