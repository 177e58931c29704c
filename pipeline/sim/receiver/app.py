"""A generic HTTP receiver standing in for OA systems and webhook endpoints.

Every POST to any path (except _sim/) is recorded. A path configured with a secret verifies the webhook
sink's scheme (pipeline/sinks/webhook/signing.py), implemented here independently:

    X-Exmail-Timestamp: <unix seconds>
    X-Exmail-Signature: sha256=<hex HMAC-SHA256(key=secret, msg=timestamp + "." + raw body)>

Missing/invalid signature -> 401 {"error": "bad signature"}; timestamp missing, not an integer or more
than `tolerance_seconds` away from the simulator clock -> 401 {"error": "stale timestamp"}; a body that is
not JSON -> 400. Accepted requests answer `respond_status` (default 200) with {"ok": true}.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from pipeline.sim.receiver.recording import (
    CONFIG_KEY,
    FAULTS_KEY,
    RECORDER_KEY,
    FaultPlan,
    Recorder,
    SimClock,
    add_admin_routes,
    fault_http_response,
    json_response,
    read_json,
)


class ReceiverEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(..., description="path below the mount point, e.g. 'oa/alerts'; '*' for any other")
    secret: str | None = Field(None, repr=False, description="HMAC secret; None accepts unsigned requests")
    timestamp_header: str = "X-Exmail-Timestamp"
    signature_header: str = "X-Exmail-Signature"
    tolerance_seconds: float = 300.0
    respond_status: int = 200
    record_headers: list[str] = Field(default_factory=lambda: ["X-Exmail-Idempotency-Key", "Content-Type"])


class ReceiverSimConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoints: list[ReceiverEndpoint] = Field(default_factory=list)
    recorder_limit: int = Field(50_000, ge=1)


_OPEN = ReceiverEndpoint(path="*")


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def create_app(config: ReceiverSimConfig | None = None, *, clock: SimClock | None = None,
               wall_clock: SimClock | None = None) -> web.Application:
    """The generic receiver with relative routes (mount it, e.g. at /receiver/): POST <any path> plus the
    _sim/ admin routes. Recorded entries have channel "webhook" and the path as target. `clock` stamps the
    recorder; signature timestamps are checked against `wall_clock` (default: real time, which is what
    senders sign with, even when the simulator runs a shifted clock)."""
    cfg = config or ReceiverSimConfig()
    now = clock or time.time
    wall = wall_clock or time.time
    by_path = {e.path.strip("/"): e for e in cfg.endpoints}
    fallback = by_path.pop("*", _OPEN)
    app = web.Application()
    app[CONFIG_KEY] = cfg
    recorder = app[RECORDER_KEY] = Recorder(now, cfg.recorder_limit)
    faults = app[FAULTS_KEY] = FaultPlan()

    async def receive(request: web.Request) -> web.Response:
        path = request.match_info["tail"].strip("/")
        endpoint = by_path.get(path, fallback)
        raw, body = await read_json(request)
        headers = {h: request.headers[h] for h in endpoint.record_headers if h in request.headers}

        def reject(status: int, error: str) -> web.Response:
            recorder.record("webhook", path, "rejected", status=status, detail=error, body=body, headers=headers)
            return json_response({"error": error}, status)

        fault = await faults.before("webhook", path)
        if fault is not None:
            recorder.record("webhook", path, "rejected", status=fault.status, detail="injected fault", body=body,
                            headers=headers)
            if fault.kind == "http_status":
                return fault_http_response(fault)
            return json_response({"errcode": fault.errcode, "errmsg": fault.errmsg})
        if endpoint.secret is not None:
            timestamp = request.headers.get(endpoint.timestamp_header, "")
            try:
                stale = abs(wall() - int(timestamp)) > endpoint.tolerance_seconds
            except ValueError:
                stale = True
            if stale:
                return reject(401, "stale timestamp")
            given = request.headers.get(endpoint.signature_header, "")
            if not hmac.compare_digest(expected_signature(endpoint.secret, timestamp, raw), given):
                return reject(401, "bad signature")
        if body is None:
            return reject(400, "body is not JSON")
        recorder.record("webhook", path, "accepted", status=endpoint.respond_status, body=body, headers=headers)
        return json_response({"ok": True}, endpoint.respond_status)

    add_admin_routes(app)
    app.router.add_post("/{tail:.*}", receive)
    return app
