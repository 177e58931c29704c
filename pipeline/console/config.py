"""The `worker.console` section: the operator console served by the worker at /console."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConsoleConfig(BaseModel):
    """Present = served. Who may do what comes from `auth` (viewer sees, operator silences and replays,
    approver approves, admin everything); the login page trades a token for a session cookie."""

    model_config = ConfigDict(extra="forbid")

    ingest_url: str | None = Field(None, pattern=r"^https?://",
                                   description="the ingest's base URL: the Pipeline page shows its /healthz")
    session_hours: float = Field(12.0, gt=0, le=24 * 7, description="how long a login lasts")
    page_size: int = Field(50, ge=5, le=500, description="audit rows per page")
    recent_alerts_minutes: int = Field(60, ge=1, description="the Alerts page replays this much of exmail.alerts")
