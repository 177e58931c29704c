"""Mounting the WeCom / DingTalk / Feishu / OA-receiver surfaces built in pipeline.sim.wecom and
pipeline.sim.receiver, imported lazily: a missing package is skipped and logged, never fatal."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import BaseModel

log = logging.getLogger("pipeline.sim.surfaces")

# surface -> (mount prefix, candidate (module, factory) pairs in order of preference)
def _candidates(name: str) -> tuple[tuple[str, str], ...]:
    return (
        (f"pipeline.sim.{name}", "create_app"),
        (f"pipeline.sim.wecom.{name}", "create_app"),
        (f"pipeline.sim.receiver.{name}", "create_app"),
        ("pipeline.sim.wecom", f"create_{name}_app"),
        ("pipeline.sim.receiver", f"create_{name}_app"),
    )


SURFACES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "wecom": ("/wecom", (("pipeline.sim.wecom", "create_app"), ("pipeline.sim.wecom", "create_wecom_app"))),
    "dingtalk": ("/dingtalk", _candidates("dingtalk")),
    "feishu": ("/feishu", _candidates("feishu")),
    "receiver": ("/receiver", (("pipeline.sim.receiver", "create_app"),
                               ("pipeline.sim.receiver", "create_receiver_app"))),
}


@dataclass
class Surface:
    name: str
    prefix: str
    module: str
    app: web.Application
    recorder: Any

    def received(self) -> Any:
        return dump_recorder(self.recorder)

    def settings(self) -> dict[str, Any] | None:
        """The surface's own config (corp id, secrets, robot keys) when its app exposes one."""
        for key in list(self.app.keys()):
            value = self.app[key]
            config = getattr(value, "config", value)
            if isinstance(config, BaseModel):
                return config.model_dump(mode="json")
        return None


def _factory(candidates: tuple[tuple[str, str], ...]) -> tuple[str, Callable[..., Any]] | None:
    for module_name, attr in candidates:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        fn = getattr(module, attr, None)
        if callable(fn):
            return module_name, fn
    return None


def _call(fn: Callable[..., Any], available: dict[str, Any]) -> Any:
    params = inspect.signature(fn).parameters
    kwargs = {k: v for k, v in available.items() if k in params}
    missing = [p.name for p in params.values() if p.default is inspect.Parameter.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in kwargs]
    if missing:
        raise TypeError(f"cannot supply required argument(s) {missing}")
    return fn(**kwargs)


def _find_recorder(app: web.Application, module: Any) -> Any:
    for key in list(app.keys()):
        label = getattr(key, "name", None) or getattr(key, "_name", None) or str(key)
        value = app[key]
        if "recorder" in str(label).lower() or (callable(getattr(value, "record", None))
                                                and hasattr(value, "entries")):
            return value
    return getattr(module, "recorder", None) or getattr(module, "RECORDER", None)


def _plain(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, list | tuple) or type(value).__name__ == "deque":
        return [_plain(v) for v in value]
    return value


def dump_recorder(recorder: Any) -> Any:
    """A JSON-able view of a surface's recorder, whatever its exact API."""
    if recorder is None:
        return None
    for method in ("dump", "snapshot", "as_dict", "to_list", "select"):
        fn = getattr(recorder, method, None)
        if callable(fn):
            return _plain(fn())
    for attr in ("entries", "records", "received", "messages", "calls"):
        value = getattr(recorder, attr, None)
        if value is not None:
            return _plain(value() if callable(value) else value)
    if isinstance(recorder, list | dict):
        return recorder
    return repr(recorder)


def mount_surfaces(app: web.Application, available: dict[str, Any]) -> dict[str, Surface]:
    """Mount every surface package that exists; returns them by name."""
    mounted: dict[str, Surface] = {}
    used: set[int] = set()
    for name, (prefix, candidates) in SURFACES.items():
        found = _factory(candidates)
        if found is None:
            log.info("simulator surface %s not available (no %s); not mounted", name, candidates[0][0])
            continue
        module_name, fn = found
        try:
            sub = _call(fn, {**available, "surface": name, "prefix": prefix})
        except Exception as exc:
            log.warning("simulator surface %s: %s.%s failed: %s", name, module_name, fn.__name__, exc)
            continue
        if isinstance(sub, tuple):
            sub, recorder = sub[0], sub[1]
        else:
            recorder = None
        if not isinstance(sub, web.Application) or id(sub) in used:
            log.warning("simulator surface %s: %s did not return a new aiohttp Application", name, module_name)
            continue
        used.add(id(sub))
        if recorder is None:
            recorder = _find_recorder(sub, importlib.import_module(module_name))
        app.add_subapp(prefix, sub)
        mounted[name] = Surface(name, prefix, module_name, sub, recorder)
        log.info("simulator surface %s mounted at %s/ from %s", name, prefix, module_name)
    return mounted
