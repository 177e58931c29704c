"""The hostile-client walk: every route the running ingest and worker actually serve (read from their own
GET /auth/routes) is called anonymously, with a role that is not enough, with the right role, again (a
replay), with an oversized body, with malformed JSON and with path traversal; each answer must be the
documented one (docs/operations.md, Security), and afterwards no state may have changed (read back from the
APIs and the broker). A served route missing from ROUTES, or served without a declaration, fails the walk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from pipeline.kafka.reader import end_offsets

pytestmark = pytest.mark.integration

MISSING_ID = "0" * 32
TRAVERSAL = "..%2F..%2F..%2F..%2Fetc%2Fpasswd"
OVERSIZED = 1024 * 1024 + 4096  # above every body limit (aiohttp's default 1 MiB; the APIs' own are lower)


@dataclass(frozen=True)
class Spec:
    """Documented answers. `access`: the declared role or "public". `anonymous`: no credentials, no body.
    `allowed`: the right role (or, for public routes, nobody) with a harmless request (`body`) that must not
    change state. `malformed` / `oversized`: POST routes, with the right credentials."""

    access: str
    anonymous: int
    allowed: int
    body: Any = None
    params: dict[str, str] | None = None
    malformed: int | None = None
    oversized: int | None = None


ROUTES: dict[tuple[str, str, str], Spec] = {
    # --- both processes
    ("ingest", "GET", "/metrics"): Spec("public", 200, 200),
    ("ingest", "GET", "/healthz"): Spec("public", 200, 200),
    ("worker", "GET", "/metrics"): Spec("public", 200, 200),
    ("worker", "GET", "/healthz"): Spec("public", 200, 200),
    ("ingest", "GET", "/auth/whoami"): Spec("viewer", 401, 200),
    ("ingest", "GET", "/auth/routes"): Spec("admin", 401, 200),
    ("worker", "GET", "/auth/whoami"): Spec("viewer", 401, 200),
    ("worker", "GET", "/auth/routes"): Spec("admin", 401, 200),
    # --- ingest: pushes authenticated by their own signatures, the SSO redirector
    ("ingest", "GET", "/exmail/callback/sim"): Spec("public", 400, 400),
    ("ingest", "POST", "/exmail/callback/sim"): Spec("public", 400, 400, body=b"<xml/>", malformed=400,
                                                    oversized=413),
    ("ingest", "POST", "/hr/lifecycle"): Spec("public", 401, 401, body=b"{}", malformed=401, oversized=413),
    ("ingest", "GET", "/sso"): Spec("public", 400, 400),
    ("ingest", "POST", "/sso"): Spec("public", 400, 400, body={"t": "not-a-link"}, malformed=400, oversized=413),
    ("ingest", "POST", "/sso/revoke"): Spec("admin", 401, 400, body={"token": "not-a-link"}, malformed=400,
                                            oversized=413),
    # --- worker: silences, actions, SSE
    ("worker", "GET", "/alerting/api/silences"): Spec("viewer", 401, 200),
    ("worker", "POST", "/alerting/api/silences"): Spec("operator", 401, 400, body={"comment": "no matchers"},
                                                      malformed=400, oversized=413),
    ("worker", "GET", "/alerting/api/silences/{id}"): Spec("viewer", 401, 404),
    ("worker", "DELETE", "/alerting/api/silences/{id}"): Spec("operator", 401, 404),
    ("worker", "GET", "/actions/api/actions"): Spec("viewer", 401, 200),
    ("worker", "GET", "/actions/api/actions/{id}"): Spec("viewer", 401, 404),
    ("worker", "GET", "/actions/api/actions/{id}/approve"): Spec("public", 403, 403, params={"token": "1.abc"}),
    ("worker", "POST", "/actions/api/actions/{id}/approve"): Spec("public", 401, 404, body={}, malformed=400,
                                                                  oversized=413),
    ("worker", "POST", "/actions/api/actions/{id}/reject"): Spec("public", 401, 404, body={}, malformed=400,
                                                                 oversized=413),
    ("worker", "POST", "/actions/api/actions/{id}/undo"): Spec("operator", 401, 404, body={}, malformed=400,
                                                               oversized=413),
    ("worker", "GET", "/sse/stream"): Spec("viewer", 401, 400, params={"from": "bogus"}),
    # --- worker: the operator console (browser pages: without credentials a GET is sent to the login page)
    ("worker", "GET", "/console/"): Spec("viewer", 303, 303),
    ("worker", "GET", "/console/login"): Spec("public", 200, 200),
    ("worker", "POST", "/console/login"): Spec("public", 415, 415, body={}, malformed=415, oversized=415),
    ("worker", "GET", "/console/lang"): Spec("public", 303, 303),
    ("worker", "GET", "/console/static/{name}"): Spec("public", 404, 404),
    ("worker", "POST", "/console/logout"): Spec("viewer", 401, 303),
    ("worker", "GET", "/console/alerts"): Spec("viewer", 303, 200),
    ("worker", "GET", "/console/alerts/groups"): Spec("viewer", 303, 200),
    ("worker", "GET", "/console/stream"): Spec("viewer", 401, 400, params={"from": "bogus"}),
    ("worker", "GET", "/console/silences"): Spec("viewer", 303, 200),
    ("worker", "POST", "/console/silences/preview"): Spec("viewer", 401, 400, body={}, malformed=400,
                                                         oversized=413),
    ("worker", "GET", "/console/actions"): Spec("viewer", 303, 200),
    ("worker", "GET", "/console/audit"): Spec("viewer", 303, 200),
    ("worker", "GET", "/console/audit/export"): Spec("viewer", 303, 200),
    ("worker", "GET", "/console/audit/verify"): Spec("viewer", 303, 200),
    ("worker", "GET", "/console/pipeline"): Spec("viewer", 303, 200),
    ("worker", "POST", "/console/pipeline/replay"): Spec("operator", 401, 415, body={}, malformed=415,
                                                        oversized=415),
    ("worker", "GET", "/console/api"): Spec("admin", 303, 200),
    ("worker", "POST", "/console/api"): Spec("admin", 401, 415, body={}, malformed=415, oversized=415),
}
# who calls a public route "with the right role": the approver for the approve/reject API (its alternative to
# an approval link), nobody otherwise
PUBLIC_CALLER = {"/actions/api/actions/{id}/approve": "approver", "/actions/api/actions/{id}/reject": "approver"}
WEAKER = {"operator": "viewer", "approver": "operator", "admin": "operator"}
STATE_TOPICS = ("exmail.state.silences", "exmail.actions", "exmail.state.actions", "hr.lifecycle",
                "exmail.raw.new_mail", "exmail.state.claims")


def _url(base: str, path: str, ident: str = MISSING_ID) -> str:
    return base + path.replace("{id}", ident)


def _send(http: httpx.Client, method: str, url: str, *, role: str | None, stack: Any, body: Any = None,
          raw: bytes | None = None, params: dict[str, str] | None = None) -> httpx.Response:
    headers = stack.headers(role)
    if raw is not None:
        return http.request(method, url, content=raw, params=params,
                            headers={**headers, "Content-Type": "application/json"})
    if isinstance(body, bytes):
        return http.request(method, url, content=body, params=params, headers=headers)
    if isinstance(body, dict) and url.endswith("/sso"):
        return http.request(method, url, data=body, params=params, headers=headers)
    return http.request(method, url, json=body, params=params, headers=headers)


def _state(stack: Any) -> dict[str, Any]:
    """Everything the walk must leave as it found it."""
    with httpx.Client(timeout=15) as http:
        viewer = stack.headers("viewer")
        silences = http.get(f"{stack.worker_url}/alerting/api/silences", headers=viewer).json()
        actions = http.get(f"{stack.worker_url}/actions/api/actions", params={"state": "recent"},
                           headers=viewer).json()
    offsets = {t: sum(end_offsets(stack.bootstrap, stack.topic(t)).values()) for t in STATE_TOPICS}
    return {"silences": silences, "actions": actions, "offsets": offsets}


def _served(stack: Any) -> list[tuple[str, dict[str, Any]]]:
    out = []
    with httpx.Client(timeout=15) as http:
        for process, base in (("ingest", stack.ingest_url), ("worker", stack.worker_url)):
            answer = http.get(f"{base}/auth/routes", headers=stack.headers("admin"))
            assert answer.status_code == 200, answer.text
            out += [(process, r) for r in answer.json()["routes"]]
    return out


def test_every_served_route_is_declared_and_documented(stack: Any) -> None:
    served = _served(stack)
    undeclared = [(p, r["method"], r["path"]) for p, r in served if r["access"] is None]
    assert not undeclared, f"routes served without an access declaration: {undeclared}"
    keys = {(p, r["method"], r["path"]) for p, r in served}
    undocumented = sorted(keys - set(ROUTES))
    assert not undocumented, f"add these routes to ROUTES (and docs/operations.md) with their statuses: " \
                             f"{undocumented}"
    assert not sorted(set(ROUTES) - keys), "ROUTES lists routes no process serves"
    for p, r in served:
        assert r["access"] == ROUTES[(p, r["method"], r["path"])].access, (p, r)
        if r["access"] == "public":
            assert r["reason"], f"public route {r['path']} must say why"


def test_hostile_walk_gets_the_documented_answers_and_changes_nothing(stack: Any) -> None:
    before = _state(stack)
    served = _served(stack)
    failures: list[str] = []

    def expect(what: str, got: httpx.Response | None, status: int) -> None:
        code = got.status_code if got is not None else "connection closed"
        if code != status:
            failures.append(f"{what}: expected {status}, got {code} {got.text[:120] if got is not None else ''}")
        elif got is not None and "root:x:0:0" in got.text:
            failures.append(f"{what}: served a system file")

    with httpx.Client(timeout=30) as http:
        for process, route in served:
            method, path = route["method"], route["path"]
            spec = ROUTES[(process, method, path)]
            base = stack.ingest_url if process == "ingest" else stack.worker_url
            url = _url(base, path)
            name = f"{process} {method} {path}"
            role = PUBLIC_CALLER.get(path) if spec.access == "public" else spec.access
            has_body = method in ("POST", "PUT", "PATCH", "DELETE") and spec.body is not None
            # anonymous, and a credential nobody issued
            expect(f"{name} anonymous", _send(http, method, url, role=None, stack=stack, params=spec.params),
                   spec.anonymous)
            if spec.access != "public":
                forged = http.request(method, url, headers={"Authorization": "Bearer forged-" + "x" * 30})
                expect(f"{name} forged token", forged, 401)
            # a role that is not enough
            if spec.access in WEAKER:
                expect(f"{name} as {WEAKER[spec.access]}",
                       _send(http, method, url, role=WEAKER[spec.access], stack=stack, body=spec.body,
                             params=spec.params), 403)
            # the right role with a harmless request, then the same request again (a replay)
            for attempt in ("allowed", "replayed"):
                expect(f"{name} {attempt} ({role or 'anonymous'})",
                       _send(http, method, url, role=role, stack=stack, body=spec.body, params=spec.params),
                       spec.allowed)
            if has_body or (method == "POST" and spec.malformed is not None):
                expect(f"{name} malformed JSON", _send(http, method, url, role=role, stack=stack,
                                                       raw=b'{"matchers": [unterminated'), spec.malformed or 400)
                try:
                    big = _send(http, method, url, role=role, stack=stack, raw=b"{" + b" " * OVERSIZED + b"}")
                except httpx.HTTPError:
                    big = None
                expect(f"{name} oversized body", big, spec.oversized or 413)
                if spec.access != "public":
                    try:
                        anon_big = _send(http, method, url, role=None, stack=stack, raw=b" " * OVERSIZED)
                    except httpx.HTTPError:
                        anon_big = None  # refused before the body was read, connection closed mid-upload
                    if anon_big is not None:
                        expect(f"{name} oversized anonymous", anon_big, 401)
            # path traversal: in the path parameter, and as a file-ish query parameter on every route
            if "{id}" in path:
                expect(f"{name} traversal in id", _send(http, method, _url(base, path, TRAVERSAL), role=role,
                                                        stack=stack, body=spec.body, params=spec.params),
                       spec.allowed)  # an id like any unknown one: nothing is read from disk
            sneaky = http.request(method, url, params={"file": "../../../../etc/passwd",
                                                       "path": "/etc/passwd"}, headers=stack.headers("admin"))
            if "root:x:0:0" in sneaky.text:
                failures.append(f"{name}: served /etc/passwd")
    assert not failures, "\n".join(failures)
    assert _state(stack) == before, "the hostile walk changed state"
