"""Department paths ("R&D/Mail team", from the top level under the root) to ids, via a cached
department/list, creating missing levels when the policy allows."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable

from pipeline.actions._run import ActionFailed, Run
from pipeline.exmail import ValidationError
from pipeline.exmail.models import Department, DepartmentCreate

ROOT_ID = 1
NAME_EXISTS = 60008


def split_path(path: str | None) -> list[str]:
    return [part.strip() for part in (path or "").split("/") if part.strip()]


def walk(departments: list[Department], parts: list[str]) -> tuple[int, int]:
    """(id of the deepest existing level, number of levels found). A leading root name is ignored."""
    children: dict[int, list[Department]] = defaultdict(list)
    root_name = ""
    for d in departments:
        if d.id == ROOT_ID:
            root_name = d.name
        else:
            children[d.parentid].append(d)
    if parts and parts[0] == root_name and not any(d.name == root_name for d in children[ROOT_ID]):
        parts = parts[1:]
        offset = 1
    else:
        offset = 0
    current = ROOT_ID
    for i, name in enumerate(parts):
        match = next((d for d in children[current] if d.name == name), None)
        if match is None:
            return current, i + offset
        current = match.id
    return current, len(parts) + offset


class DepartmentResolver:
    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, list[Department]]] = {}

    def __repr__(self) -> str:
        return f"DepartmentResolver(corps={sorted(self._cache)})"

    def invalidate(self, corp_id: str) -> None:
        self._cache.pop(corp_id, None)

    async def _departments(self, run: Run, fresh: bool) -> list[Department]:
        cached = self._cache.get(run.corp_id)
        if not fresh and cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        departments = await run.read("department/list", "GET", {}, run.client.department_list)
        self._cache[run.corp_id] = (self._clock(), departments)
        return departments

    async def lookup(self, run: Run, path: str | None) -> int | None:
        """The id of an existing path (fresh list when the cache misses it), None when a level is missing."""
        parts = split_path(path)
        if not parts:
            return ROOT_ID
        for fresh in (False, True):
            found, depth = walk(await self._departments(run, fresh), parts)
            if depth == len(parts):
                return found
        return None

    async def resolve(self, run: Run, path: str | None, *, create: bool) -> int | None:
        """The department id for `path`, creating missing levels if `create`. None only in a dry run where
        levels would be created. Raises ActionFailed for a missing path when creating is not allowed."""
        parts = split_path(path)
        if not parts:
            return ROOT_ID
        found, depth = walk(await self._departments(run, False), parts)
        if depth < len(parts):
            found, depth = walk(await self._departments(run, True), parts)
        if depth == len(parts):
            return found
        if not create:
            above = "/".join(parts[:depth]) or "the root"
            raise ActionFailed(
                f"unknown department {path!r}: {parts[depth]!r} does not exist under {above} "
                "(create it, or allow actions.hr.create_departments)",
                errcode=60003,
            )
        parent: int | None = found
        for i in range(depth, len(parts)):
            name, label = parts[i], "/".join(parts[: i + 1])
            params = {
                "name": name,
                "parentid": parent if parent is not None else f"<new {'/'.join(parts[:i])}>",
            }
            try:
                created = await run.write(
                    "department/create",
                    "POST",
                    params,
                    f"create department {label}",
                    functools.partial(self._create, run, name, parent),
                )
            except ValidationError as exc:
                if exc.errcode != NAME_EXISTS:
                    raise
                existing, level = walk(await self._departments(run, True), parts[: i + 1])
                if level != i + 1:
                    raise
                created = existing
            self.invalidate(run.corp_id)
            parent = created
        return parent

    @staticmethod
    async def _create(run: Run, name: str, parent: int | None) -> int:
        assert parent is not None
        return await run.client.department_create(DepartmentCreate(name=name, parentid=parent))
