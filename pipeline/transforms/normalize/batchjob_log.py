"""exmail.raw.batchjob_log -> ECS (by job type) + OCSF 6003 API Activity.

The API shows a `status` on batch jobs but never says what its values mean, so the outcome is always
"unknown" (OCSF status 0) and the value is kept as exmail.batchjob.status and ocsf.status_code.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    ADMIN_CONSOLE,
    API_ACTIVITY,
    build_event,
    ecs_user,
    ocsf_user,
    opt_int_or_str,
    related,
    req_date,
    req_int,
    req_obj,
    req_str,
)

DATASET = "exmail.batchjob_log"
PROVIDER = "log/batchjob"


class BatchJobType(NamedTuple):
    name: str
    description: str
    action: str
    category: list[str]
    types: list[str]
    activity_id: int


BATCHJOB_TYPES: dict[int, BatchJobType] = {
    0: BatchJobType("other", "other batch job", "batch-other", ["configuration"], ["info"], 99),
    1: BatchJobType("mass_mail", "mass mail", "batch-mass-mail", ["email"], ["info"], 1),
    2: BatchJobType("import_members", "batch-import members", "batch-import-members", ["iam"],
                    ["user", "creation"], 1),
    3: BatchJobType("delete_announcement", "delete announcement", "batch-delete-announcement", ["configuration"],
                    ["deletion"], 4),
    4: BatchJobType("add_aliases", "batch-add aliases", "batch-add-aliases", ["iam"], ["user", "change"], 3),
    5: BatchJobType("publish_announcement", "publish announcement", "batch-publish-announcement",
                    ["configuration"], ["creation"], 1),
    6: BatchJobType("rtx_binding", "RTX account binding", "batch-rtx-binding", ["iam"], ["user", "change"], 3),
    7: BatchJobType("set_signature", "set corporate signature", "batch-set-signature", ["configuration"],
                    ["change"], 3),
    8: BatchJobType("cancel_signature", "cancel corporate signature", "batch-cancel-signature", ["configuration"],
                    ["deletion"], 4),
    9: BatchJobType("activate_members", "activate members", "batch-activate-members", ["iam"], ["user", "change"],
                    3),
}
UNKNOWN_BATCHJOB = BatchJobType("unknown", "batch job type not in the API documentation", "batch-unknown",
                                ["configuration"], ["info"], 0)


def to_event(raw: Envelope) -> dict[str, Any]:
    record = req_obj(raw.data, "record", "data")
    context = req_obj(raw.data, "context", "data")
    req_date(context, "date", "data.context")
    time = req_int(record, "time", "data.record", minimum=0)
    operator = req_str(record, "operator", "data.record", nonempty=True)
    job_type = req_int(record, "type", "data.record")
    status = opt_int_or_str(record, "status", "data.record")
    job = BATCHJOB_TYPES.get(job_type, UNKNOWN_BATCHJOB)

    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        category=job.category,
        types=job.types,
        action=job.action,
        outcome="unknown",
        message=f"{operator}: batch job {job.description}",
        ocsf_class=API_ACTIVITY,
        activity_id=job.activity_id,
        status_id=0,
        status_code=None if status is None else str(status),
        event_fields={"code": str(job_type)},
        exmail={
            "batchjob": {**record, "type": job_type, "type_name": job.name, "time": time},
            "log": dict(context),
        },
        ecs={"user": ecs_user(operator), "related": related(users=(operator,))},
        ocsf={
            "actor": {"user": ocsf_user(operator)},
            "api": {"operation": job.action, "service": {"name": ADMIN_CONSOLE}},
            "src_endpoint": {"svc_name": ADMIN_CONSOLE},
            "resources": [{"type": "batch_job", "name": job.name}],
        },
    )
