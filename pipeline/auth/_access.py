"""Route declarations: every handler says which role may call it, or that it is public and why.

A declaration travels with the handler (a small wrapper carrying `__access__`), so it works for functions,
bound methods and `web.RouteDef`s alike, in any sub-application. `route_table(app)` lists what is mounted;
`undeclared(app)` finds handlers nobody declared, which the server refuses to start with.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Role(enum.StrEnum):
    """viewer reads; operator silences and undoes; approver approves/rejects actions; admin does everything.
    Every authenticated principal can do what a viewer can."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    APPROVER = "approver"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Access:
    """`role` None means public; `reason` says why (required for public routes). `query_token` lets a browser
    EventSource (which cannot set headers) send its bearer token as ?access_token=. `login` marks a browser
    page (session cookie, see _session.py): the guard redirects a caller without credentials there."""

    role: Role | None
    reason: str = ""
    query_token: bool = False
    login: str | None = None  # a browser page: without credentials redirect here, refusals answer HTML

    @property
    def public(self) -> bool:
        return self.role is None

    def describe(self) -> str:
        return f"public ({self.reason})" if self.role is None else self.role.value


def _mark(handler: Handler, access: Access) -> Handler:
    @functools.wraps(handler)
    async def declared(request: web.Request) -> web.StreamResponse:
        return await handler(request)

    declared.__access__ = access  # type: ignore[attr-defined]
    return declared


def requires(role: Role | str, *, query_token: bool = False, login: str | None = None
             ) -> Callable[[Handler], Handler]:
    """Decorator: only a principal holding `role` (or admin) may call this handler. `login`: the path of the
    login page a browser without a session is sent to."""
    access = Access(Role(role), query_token=query_token, login=login)
    return lambda handler: _mark(handler, access)


def public(reason: str) -> Callable[[Handler], Handler]:
    """Decorator: anyone may call this handler; `reason` says what protects it instead (a signature, ...)."""
    if not reason.strip():
        raise ValueError("a public route must say why it is public")
    access = Access(None, reason.strip())
    return lambda handler: _mark(handler, access)


def declare_routes(routes: list[web.RouteDef], access: Callable[[Handler], Handler]) -> list[web.RouteDef]:
    """The same RouteDefs with each handler declared by `access` (e.g. `public("HMAC-signed")`)."""
    return [web.RouteDef(r.method, r.path, access(r.handler), r.kwargs) for r in routes]


def access_of(handler: Any) -> Access | None:
    access = getattr(handler, "__access__", None)
    return access if isinstance(access, Access) else None


@dataclass(frozen=True, slots=True)
class MountedRoute:
    method: str
    path: str
    access: Access | None

    def to_dict(self) -> dict[str, Any]:
        a = self.access
        return {"method": self.method, "path": self.path,
                "access": None if a is None else ("public" if a.public else a.role.value if a.role else None),
                "reason": a.reason if a else "", "query_token": bool(a and a.query_token)}


def _walk(app: web.Application) -> Iterator[MountedRoute]:
    for resource in app.router.resources():
        if isinstance(resource, web.PrefixedSubAppResource):
            # a sub-application's resources already carry the mount prefix
            yield from _walk(resource._app)  # aiohttp has no public accessor
            continue
        for route in resource:
            if route.method == "HEAD":
                continue  # aiohttp adds HEAD next to every GET
            yield MountedRoute(route.method, resource.canonical, access_of(route.handler))


def route_table(app: web.Application) -> list[MountedRoute]:
    """Every (method, path) the app serves, including sub-applications, with its declaration."""
    return sorted(_walk(app), key=lambda r: (r.path, r.method))


def undeclared(app: web.Application) -> list[MountedRoute]:
    return [r for r in route_table(app) if r.access is None]
