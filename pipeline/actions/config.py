"""The `actions:` section of the pipeline config: safety rails, HR lifecycle policy, security routes, drift.

Everything that can change an Exmail account defaults to the safe side: `dry_run: true` everywhere, no
drift remediation, no department creation. Secrets (approval HMAC key, operator API token, webhook key) are
references ("env:NAME" / "file:/path") resolved when the service starts, never inline values.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from pipeline.secrets import SecretRef

_UNITS = {"w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: Any) -> float:
    """Seconds from 30, "30s", "15m", "24h", "30d", "1w", "1d12h"; numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return float(text)
        m = _DURATION.match(text)
        if text and m is not None and any(m.groups()):
            return sum(int(n) * unit for n, unit in zip(m.groups(), _UNITS.values(), strict=True) if n)
    raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 15m, 24h, 30d)")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class ActionKind(StrEnum):
    """What an action does (HR kinds: hr.lifecycle; security kinds: alerts; drift: options)."""

    JOINER = "joiner"
    MOVER = "mover"
    LEAVER = "leaver"
    LEAVER_DELETE = "leaver_delete"
    DISABLE_ACCOUNT = "disable_account"
    FORCE_SECURE_LOGIN = "force_secure_login"
    DISABLE_IMAP = "disable_imap"
    DISABLE_POP = "disable_pop"
    REMEDIATE_DRIFT = "remediate_drift"
    # operator commands that change Exmail outside the service (recorded on exmail.actions, never run by it)
    DIRECTORY_IMPORT = "directory_import"
    POLICY_APPLY = "policy_apply"


HR_KINDS = frozenset({ActionKind.JOINER, ActionKind.MOVER, ActionKind.LEAVER, ActionKind.LEAVER_DELETE})
SECURITY_KINDS = frozenset(
    {
        ActionKind.DISABLE_ACCOUNT,
        ActionKind.FORCE_SECURE_LOGIN,
        ActionKind.DISABLE_IMAP,
        ActionKind.DISABLE_POP,
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class PasswordPolicy(_Model):
    """Initial passwords: Exmail wants upper case, lower case and digits, 6-32 characters, no account name."""

    length: int = Field(16, ge=8, le=32)
    symbols: bool = Field(False, description="add symbols (the v1.10 doc says letters and digits only)")
    symbol_set: str = Field("!#%+-=@_", min_length=1)
    avoid_ambiguous: bool = Field(True, description="leave out 0/O, 1/l/I")


class FileDropChannelConfig(_Model):
    """Writes one 0600 JSON file per account into `dir` (0700), for an operator process to pick up."""

    type: Literal["file"] = "file"
    dir: str = Field(min_length=1)


class WebhookChannelConfig(_Model):
    """POSTs the credential as JSON, signed X-Exmail-Signature: sha256=HMAC(secret, "<timestamp>." + body)."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret: SecretRef
    timeout_seconds: float = Field(10.0, gt=0, le=120)
    max_attempts: int = Field(3, ge=1, le=10)


class HrConfig(_Model):
    """hr.lifecycle -> joiner / mover / leaver actions."""

    enabled: bool = True
    dry_run: bool | None = Field(None, description="None = the section-wide dry_run")
    approval: bool = Field(False, description="HR actions wait for an approval")
    create_departments: bool = Field(False, description="create missing department levels of a path")
    default_department_path: str | None = Field(None, description="joiners without a path; None = root")
    leaver_grace: Duration = Field(30 * 86400.0, description="disable at once, delete after this long")
    clean_groups: bool = Field(True, description="remove a leaver from the mail groups listed or known")
    groups: list[str] = Field(default_factory=list, description="mail groups to check on leavers")
    employee_id_field: Literal["extid"] | None = Field(
        "extid", description="store employee_id here on create, so an existing account can be recognised"
    )
    password: PasswordPolicy = Field(default_factory=PasswordPolicy)
    delivery: FileDropChannelConfig | WebhookChannelConfig | None = Field(
        None, discriminator="type", description="the secure channel for initial passwords (joiners need one)"
    )
    department_cache: Duration = Field(300.0, description="how long a department/list answer is reused")


class SecurityRoute(_Model):
    """Which alerts may trigger which actions, and how. The first matching route wins."""

    name: str = Field(min_length=1)
    rules: list[str] = Field(default_factory=list, description="alert rule names; empty = any rule")
    labels: dict[str, str] = Field(default_factory=dict, description="alert labels that must all be equal")
    actions: list[ActionKind] = Field(default_factory=lambda: sorted(SECURITY_KINDS))
    dry_run: bool | None = Field(None, description="None = the section-wide dry_run")
    approval: bool = False
    target_label: str = Field("user", description="the alert label holding the target account")

    @field_validator("actions")
    @classmethod
    def _security_kinds(cls, value: list[ActionKind]) -> list[ActionKind]:
        wrong = [k.value for k in value if k not in SECURITY_KINDS]
        if wrong:
            raise ValueError(
                f"{wrong} are not security actions; use {sorted(k.value for k in SECURITY_KINDS)}"
            )
        return value


class SecurityConfig(_Model):
    enabled: bool = True
    routes: list[SecurityRoute] = Field(default_factory=list)


class DriftConfig(_Model):
    """Re-apply the desired useroption policy when the settings poller reports drift (off by default)."""

    remediate: bool = False
    dry_run: bool | None = None
    approval: bool = False
    types: list[int] = Field(default_factory=lambda: [1, 2, 3], description="option types to re-apply")

    @field_validator("types")
    @classmethod
    def _settable(cls, value: list[int]) -> list[int]:
        if any(t not in (1, 2, 3) for t in value):
            raise ValueError("only option types 1, 2 and 3 can be set (type 4 is read-only)")
        return value


class ApprovalConfig(_Model):
    secret: SecretRef | None = Field(
        None, description="HMAC key for approval tokens (needed if any approval)"
    )
    ttl: Duration = Field(3600.0, description="approval tokens and pending approvals expire after this")
    base_url: str | None = Field(None, description="where create_actions_app is mounted, for approval links")


class RetryPolicy(_Model):
    """Transient failures (timeouts, 5xx, -1, 45009) re-run the action later; permanent errors fail it."""

    max_attempts: int = Field(5, ge=1, le=50)
    backoff: Duration = 60.0
    max_backoff: Duration = 3600.0


DEFAULT_HOURLY_LIMITS: dict[str, int] = {
    ActionKind.DISABLE_ACCOUNT.value: 5,
    ActionKind.FORCE_SECURE_LOGIN.value: 20,
    ActionKind.DISABLE_IMAP.value: 20,
    ActionKind.DISABLE_POP.value: 20,
    ActionKind.REMEDIATE_DRIFT.value: 50,
    ActionKind.LEAVER.value: 50,
    ActionKind.LEAVER_DELETE.value: 50,
}


class ActionsConfig(_Model):
    """The `actions:` section."""

    enabled: bool = True
    dry_run: bool = Field(True, description="default for every kind: plan and record, change nothing")
    admins: list[str] = Field(default_factory=list, description="accounts never acted on automatically")
    allow_list: list[str] = Field(
        default_factory=list, description="accounts (a@x.com) or domains (@x.com) exempt from security/drift"
    )
    hourly_limits: dict[ActionKind, int] = Field(
        default_factory=lambda: {ActionKind(k): v for k, v in DEFAULT_HOURLY_LIMITS.items()},
        description="max distinct accounts per kind per corp in limit_window; merged over the defaults",
    )
    limit_window: Duration = 3600.0
    approval: ApprovalConfig = Field(default_factory=ApprovalConfig)
    api_token: SecretRef | None = Field(
        None, description="legacy: one more bearer token with operator + approver roles; prefer auth.tokens")
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    hr: HrConfig = Field(default_factory=HrConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    drift: DriftConfig = Field(default_factory=DriftConfig)
    alert_resolve_after: Duration = Field(
        3600.0, description="alerts about failed actions resolve after this"
    )
    recent_limit: int = Field(500, ge=10, le=100_000, description="actions kept in the recent list")

    @field_validator("admins", "allow_list")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [v.strip().lower() for v in value if v.strip()]

    @field_validator("hourly_limits", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        return {**DEFAULT_HOURLY_LIMITS, **value} if isinstance(value, dict) else value

    @field_validator("hourly_limits")
    @classmethod
    def _positive(cls, value: dict[ActionKind, int]) -> dict[ActionKind, int]:
        if any(n < 0 for n in value.values()):
            raise ValueError("hourly limits must be >= 0")
        return value

    @model_validator(mode="after")
    def _approval_needs_secret(self) -> ActionsConfig:
        wanted = self.hr.approval or self.drift.approval or any(r.approval for r in self.security.routes)
        if wanted and self.approval.secret is None:
            raise ValueError("approval is required by a route but actions.approval.secret is not set")
        return self

    def dry_run_for(self, explicit: bool | None) -> bool:
        return self.dry_run if explicit is None else explicit
