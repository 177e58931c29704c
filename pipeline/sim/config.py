"""Simulator configuration: the synthetic company, traffic rates, fault rules and every behaviour the
reference leaves open (`Choices`), so tests can pin each one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline import streams

APPS = ("contact", "unique_login", "mail_notice", "system_log", "function_setting")
App = Literal["contact", "unique_login", "mail_notice", "system_log", "function_setting"]


class Choices(BaseModel):
    """Server behaviours the reference marks unknown or disputed; defaults are documented in README.md."""

    model_config = ConfigDict(extra="forbid")

    department_list_includes_self: bool = True
    group_update_lists: Literal["replace", "merge"] = "replace"
    expired_token_errcode: int = Field(40014, description="40014, 42001 or 40001")
    missing_token_errcode: int = Field(40014, description="40014 or 41001")
    token_reissue: Literal["new_keeps_old", "same", "new_revokes_old"] = Field(
        "same", description="same = the live token comes back while valid (as WeCom documents)")
    newcount_without_dates: Literal["all_unread", "today"] = "all_unread"
    wrong_method: Literal["accept", "http_405", "errcode"] = "accept"
    useroption_update_errmsg: str = "updated"
    log_order: Literal["asc", "desc", "shuffled"] = "asc"
    log_max_span_days: int = Field(90, ge=0, description="end - begin in days; above -> 601002 (SUN: 91 refused)")
    log_retention_days: int | None = Field(90, ge=1, description="older records are not returned; None = keep all")
    operation_type_zero: Literal["all", "invalid"] = "all"
    user_get_enable_type: Literal["int", "str"] = "int"
    user_list_enable_type: Literal["int", "str"] = "str"
    gender_type: Literal["int", "str"] = "str"
    app_qps: float | None = Field(None, gt=0, description="per-app calls/s before 45009; None = unlimited")
    bad_json_errcode: int = 47001
    invalid_param_errcode: int = 40058
    api_operator: str | None = Field(None, description="operator of API writes in log/operation; None = admin@<domain>")
    wrong_corpid_errcode: int = Field(40013, description="gettoken with an unknown corpid (40013, or 40001)")
    disabled_apps: list[App] = Field(default_factory=list, description="gettoken with their secret -> 40091")
    corp_disabled: bool = Field(False, description="the enterprise is disabled: every call answers 45024")
    max_departments: int = Field(30000, ge=1, description="department/create beyond this -> 60126")
    group_invalid_members: Literal["error", "partial"] = Field(
        "error", description="unknown group members: error = 600016/600017/600018 (+ tags 40068); "
        "partial = drop them and list them in invalid_userlist/invalid_departlist/invalid_taglist/invalid_grouplist")


class TrafficConfig(BaseModel):
    """Rates of the background traffic generator (per simulated day) and the share of late log records."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    mails_per_user_per_day: float = Field(6.0, ge=0)
    logins_per_user_per_day: float = Field(2.0, ge=0)
    admin_ops_per_day: float = Field(40.0, ge=0)
    batchjobs_per_day: float = Field(4.0, ge=0)
    rates: dict[str, float] = Field(
        default_factory=dict, description="log kind -> records a day, for kinds without a field above (default: "
        "the stream catalog's SimHook.per_day)")
    late_fraction: float = Field(0.12, ge=0, le=1)
    midnight_fraction: float = Field(0.01, ge=0, le=1)
    read_fraction: float = Field(0.7, ge=0, le=1)
    unusual_login_fraction: float = Field(0.03, ge=0, le=1)
    operation_rates: dict[int, float] = Field(
        default_factory=dict, description="operation type -> relative rate (per day at 40 a day), over the defaults")
    administrator_fraction: float = Field(0.2, ge=0, le=1, description="operator 'administrator' (doc examples)")
    history_hours: float = Field(0.0, ge=0, description="traffic generated before the start time (no pushes)")

    @field_validator("rates")
    @classmethod
    def _log_rates(cls, value: dict[str, float]) -> dict[str, float]:
        kinds = {s.kind for s in streams.log_kinds() if s.sim is not None}
        bad = sorted(k for k, rate in value.items() if k not in kinds or rate < 0)
        if bad:
            raise ValueError(f"rates: kinds must be {sorted(kinds)} with a rate >= 0 (bad: {bad})")
        return value

    @field_validator("operation_rates")
    @classmethod
    def _operation_types(cls, value: dict[int, float]) -> dict[int, float]:
        bad = sorted(t for t, rate in value.items() if not 1 <= t <= 41 or rate < 0)
        if bad:
            raise ValueError(f"operation_rates: types must be 1..41 with a rate >= 0 (bad: {bad})")
        return value


class CallbackConfig(BaseModel):
    """Where new-mail pushes go. Token/AES key default to the corp's generated ones."""

    model_config = ConfigDict(extra="forbid")

    url: str
    token: str | None = Field(None, repr=False)
    encoding_aes_key: str | None = Field(None, repr=False)
    corp_id: str | None = None
    mailboxes: list[str] | None = Field(None, description="None = every mailbox")
    max_attempts: int = Field(5, ge=1, le=20)
    backoff_initial: float = Field(0.2, ge=0)
    backoff_max: float = Field(5.0, ge=0)
    timeout: float = Field(5.0, gt=0)
    extra_fields: bool = Field(False, description="add ToUserName/AgentID to the push body")
    concurrency: int = Field(4, ge=1, le=64)
    timestamp_age: float = Field(
        0.0, ge=0, description="pushes carry a timestamp this many seconds old (models Exmail re-sending a push "
        "long after its first attempt; a receiver's replay window then refuses it)")


FaultKind = Literal["errcode", "http_status", "delay", "drop", "expire_token"]


class FaultRule(BaseModel):
    """One fault switch. `endpoint` is an fnmatch pattern over endpoint names ("log/mail", "log/*", "*")."""

    model_config = ConfigDict(extra="forbid")

    kind: FaultKind
    endpoint: str = "*"
    probability: float = Field(1.0, ge=0, le=1)
    count: int | None = Field(None, ge=0, description="affect only the next N matching calls")
    errcode: int = 45009
    errmsg: str | None = None
    status: int = Field(503, ge=400, le=599)
    delay: float = Field(1.0, ge=0, le=120)
    id: str | None = None

    @classmethod
    def parse_flag(cls, text: str) -> FaultRule:
        """From the CLI form "kind=errcode,errcode=45009,endpoint=log/*,probability=0.2"."""
        fields: dict[str, str] = {}
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            if "=" not in part:
                if "kind" in fields:
                    raise ValueError(f"fault option {part!r} must be key=value")
                fields["kind"] = part
                continue
            key, value = part.split("=", 1)
            fields[key.strip()] = value.strip()
        return cls.model_validate(fields)


class SimConfig(BaseModel):
    """Everything the simulator needs; every field has a default that runs a realistic company."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(0, ge=0, le=65535)
    seed: int = 1
    users: int = Field(300, ge=5, le=100_000)
    speed: float = Field(1.0, ge=0)
    start: datetime | float | None = Field(None, description="simulated start; None = now")
    corp_id: str | None = None
    domain: str = "corp.example.com"
    company_name: str = "示例科技有限公司"
    utc_offset_minutes: int = Field(480, ge=-720, le=840, description="timezone of log dates (Beijing)")
    token_expires_in: int = Field(7200, ge=1)
    app_secrets: dict[str, str] | None = Field(None, repr=False)
    callback_token: str | None = Field(None, repr=False)
    callback_aes_key: str | None = Field(None, repr=False)
    choices: Choices = Field(default_factory=Choices)
    traffic: TrafficConfig = Field(default_factory=TrafficConfig)
    callback: CallbackConfig | None = None
    faults: list[FaultRule] = Field(default_factory=list)
    fault_seed: int | None = None
    tick_interval: float = Field(0.1, gt=0)
    mount_surfaces: bool = True

    @field_validator("domain")
    @classmethod
    def _domain_shape(cls, value: str) -> str:
        value = value.strip().lower()
        if "." not in value or "@" in value or "/" in value:
            raise ValueError("domain must look like 'corp.example.com'")
        return value

    @field_validator("app_secrets")
    @classmethod
    def _known_apps(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None:
            unknown = sorted(set(value) - set(APPS))
            if unknown:
                raise ValueError(f"unknown app(s) {unknown}; apps are {list(APPS)}")
        return value

    def derived(self, label: str, length: int = 32) -> str:
        """A deterministic hex string for `label` under this seed (ids and secrets stay stable per seed)."""
        return hashlib.sha256(f"exmail-sim:{self.seed}:{label}".encode()).hexdigest()[:length]

    @property
    def effective_corp_id(self) -> str:
        return self.corp_id or "ww" + self.derived("corp_id", 16)

    def secret_for(self, app: str) -> str:
        if self.app_secrets and app in self.app_secrets:
            return self.app_secrets[app]
        return self.derived(f"secret:{app}", 43)
