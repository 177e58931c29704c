"""exmail.raw.mail_status -> a metric event (event.kind "metric"): one domain's sent and received totals for
one date. No OCSF class describes a volume summary, so it is an OCSF Base Event (class 0, activity Other)
with the numbers in `unmapped` for OCSF-only consumers."""

from __future__ import annotations

from typing import Any

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    BASE_EVENT,
    build_event,
    related,
    req_date,
    req_int,
    req_obj,
    req_str,
)

DATASET = "exmail.mail_status"
PROVIDER = "log/mailstatus"


def to_event(raw: Envelope) -> dict[str, Any]:
    record = req_obj(raw.data, "record", "data")
    context = req_obj(raw.data, "context", "data")
    domain = req_str(context, "domain", "data.context", nonempty=True)
    date = req_date(context, "date", "data.context")
    sendsum = req_int(record, "sendsum", "data.record", minimum=0)
    recvsum = req_int(record, "recvsum", "data.record", minimum=0)
    summary = {"domain": domain, "date": date, "sendsum": sendsum, "recvsum": recvsum}

    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        kind="metric",
        category=["email"],
        types=["info"],
        action="mail-volume-summary",
        outcome=None,
        message=f"{domain} on {date}: {sendsum} sent, {recvsum} received",
        ocsf_class=BASE_EVENT,
        activity_id=99,
        activity_name="Mail Volume Summary",
        status_id=0,
        exmail={"mail_status": {**record, **summary}},
        ecs={"related": related(hosts=(domain,))},
        ocsf={"unmapped": dict(summary)},
    )
