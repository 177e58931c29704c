"""exmail.raw.pipeline_error -> event.kind "pipeline_error" (ECS's kind for ingestion failures) with ECS
error.*, as an OCSF Base Event with status Failure. A possible gap in the polled records (gap_risk) is
tagged "gap_risk" and raises the severity from Medium to High."""

from __future__ import annotations

from typing import Any

from pipeline.envelope import Envelope
from pipeline.secrets import scrub_text
from pipeline.transforms.normalize._common import (
    BASE_EVENT,
    NormalizeError,
    build_event,
    opt_int,
    opt_obj,
    opt_str,
    req_bool,
    req_date,
    req_str,
)

DATASET = "exmail.pipeline_error"
PROVIDER = "pipeline"


def to_event(raw: Envelope) -> dict[str, Any]:
    data = raw.data
    stream = req_str(data, "stream", "data", nonempty=True)
    stage = req_str(data, "stage", "data", nonempty=True)
    error_type = req_str(data, "error_type", "data", nonempty=True)
    for key in ("errcode", "errmsg", "window"):
        if key not in data:
            raise NormalizeError(f"data.{key} is missing")
    errcode = opt_int(data, "errcode", "data")
    errmsg = opt_str(data, "errmsg", "data")
    message = scrub_text(req_str(data, "message", "data"))
    window = opt_obj(data, "window", "data")
    if window is not None:
        window = {"begin_date": req_date(window, "begin_date", "data.window"),
                  "end_date": req_date(window, "end_date", "data.window")}
    gap_risk = req_bool(data, "gap_risk", "data")
    if errmsg is not None:
        errmsg = scrub_text(errmsg)

    error: dict[str, Any] = {"type": error_type, "message": message}
    if errcode is not None:
        error["code"] = str(errcode)
    span = f" for {window['begin_date']}..{window['end_date']}" if window else ""
    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        kind="pipeline_error",
        category=["api"],
        types=["error"],
        action="pipeline-error",
        outcome="failure",
        message=f"{stream} {stage}{span}: {message}" + (" (records may be missing)" if gap_risk else ""),
        ocsf_class=BASE_EVENT,
        activity_id=99,
        activity_name="Pipeline Error",
        status_id=2,
        severity_id=4 if gap_risk else 3,
        status_code=None if errcode is None else str(errcode),
        status_detail=errmsg,
        exmail={"pipeline_error": {"stream": stream, "stage": stage, "error_type": error_type, "errcode": errcode,
                                   "errmsg": errmsg, "window": window, "gap_risk": gap_risk}},
        ecs={"error": error, "tags": ["gap_risk"] if gap_risk else None},
        ocsf={"unmapped": {"stream": stream, "stage": stage, "error_type": error_type, "gap_risk": gap_risk}},
    )
