"""Configuration of the ingest process (`pipeline ingest`): corps, pollers, callback, HR intake, HTTP.

Secrets are references ("env:NAME" or "file:/path") resolved at start with `pipeline.secrets.resolve_secret`;
inline values are refused so they never land in a config file, a repr or an error message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model, field_validator, model_validator

from pipeline import streams
from pipeline.auth.config import AuthConfig
from pipeline.exmail import DEFAULT_BASE_URL, AppSecrets, ExmailSettings, RateLimit, RetrySettings
from pipeline.kafka import KafkaSettings
from pipeline.policy.config import OptionPolicy
from pipeline.secrets import SecretRef, resolve_secret
from pipeline.sso_gateway.config import SsoGatewaySettings

# the pollers a corp can run (`streams:`), from the stream catalog; LOG_STREAMS are the log pollers
STREAMS: tuple[str, ...] = tuple(s.poller for s in streams.polled() if s.poller is not None)
LOG_STREAMS: tuple[str, ...] = tuple(s.kind for s in streams.log_kinds())


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class CorpSecrets(_Model):
    """One reference per Exmail app; an app left out is not polled (its streams are skipped with a warning)."""

    contact: SecretRef | None = Field(None, description="address book: directory snapshots, login user list")
    mail_notice: SecretRef | None = Field(None, description="new-mail reminder: mail/newcount")
    system_log: SecretRef | None = Field(None, description="system log: log/* pollers")
    function_setting: SecretRef | None = Field(None, description="function settings: useroption poller")
    sso: SecretRef | None = None


class CallbackSettings(_Model):
    """The new-mail callback endpoint of one corp (the Token and EncodingAESKey set in the admin console)."""

    token: SecretRef
    aes_key: SecretRef = Field(description="the 43-character EncodingAESKey")
    path: str | None = Field(None, description="URL path; default /exmail/callback/<corp name>")
    replay_window_seconds: int = Field(300, ge=1, description="max |now - timestamp| of a push")
    max_body_bytes: int = Field(64 * 1024, ge=256)


class NewcountSettings(_Model):
    """mail/newcount polling of selected mailboxes (e.g. customer-service boxes)."""

    mailboxes: list[str] = Field(default_factory=list)
    interval_seconds: float = Field(5.0, gt=0)


class ClientTuning(_Model):
    """Overrides of the Exmail client's defaults for this corp (see pipeline.exmail.ExmailSettings)."""

    corp_rate: float | None = Field(None, gt=0, description="requests/s for the whole corp")
    corp_burst: int | None = Field(None, ge=1)
    app_rate: float | None = Field(None, gt=0, description="requests/s per Exmail app")
    app_burst: int | None = Field(None, ge=1)
    per_user_concurrency: int | None = Field(None, ge=1)
    max_attempts: int | None = Field(None, ge=1)
    max_total_seconds: float | None = Field(None, gt=0)
    base_delay_seconds: float | None = Field(None, gt=0)
    max_delay_seconds: float | None = Field(None, gt=0)
    read_timeout_seconds: float | None = Field(None, gt=0)


class CorpConfig(_Model):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="label used in URL paths and logs")
    corp_id: str = Field(min_length=1)
    base_url: str = DEFAULT_BASE_URL
    secrets: CorpSecrets = Field(default_factory=CorpSecrets)
    utc_offset_minutes: int = Field(480, ge=-720, le=840, description="timezone of log dates (Beijing: 480)")
    domains: list[str] = Field(default_factory=list, description="mailstatus domains; empty = from the directory")
    groups: list[str] = Field(
        default_factory=list,
        description="mail groups to snapshot (the API cannot list groups); groups named in the operation log "
        "(add/edit mail group) are added automatically",
    )
    callback: CallbackSettings | None = None
    newcount: NewcountSettings = Field(default_factory=NewcountSettings)
    desired_options: dict[int, str] = Field(
        default_factory=dict, description="useroption type -> desired value, e.g. {1: '1', 3: '0'} (company "
        "default; `policy` adds departments, groups and users)"
    )
    policy: OptionPolicy | None = Field(
        None, description="desired useroption settings per department, group and user (docs/policy.md)"
    )
    streams: list[str] = Field(default_factory=lambda: list(STREAMS), description="streams to run for this corp")
    client: ClientTuning = Field(default_factory=ClientTuning)

    @field_validator("desired_options")
    @classmethod
    def _option_types(cls, value: dict[int, str]) -> dict[int, str]:
        for t, v in value.items():
            if t not in (1, 2, 3, 4):
                raise ValueError(f"useroption type {t} is unknown (types are 1..4)")
            if v not in ("0", "1"):
                raise ValueError(f"desired value of useroption type {t} must be '0' or '1'")
        return value

    @model_validator(mode="after")
    def _one_company_default(self) -> CorpConfig:
        if self.desired_options and self.policy is not None and self.policy.default:
            raise ValueError("give the company default once: policy.default or desired_options, not both")
        return self

    @field_validator("streams")
    @classmethod
    def _known_streams(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(STREAMS))
        if unknown:
            raise ValueError(f"unknown stream(s) {unknown}; streams are {list(STREAMS)}")
        return value

    @property
    def callback_path(self) -> str:
        return (self.callback.path if self.callback and self.callback.path else None) or (
            f"/exmail/callback/{self.name}"
        )


class _Intervals(_Model):
    def of(self, stream: str) -> float:
        value: float = getattr(self, stream)
        return value


if TYPE_CHECKING:
    StreamIntervals = _Intervals
else:  # one field per catalog stream with a default interval (a model built from the catalog)
    StreamIntervals = create_model(
        "StreamIntervals", __base__=_Intervals, __doc__="Seconds between runs of each poller.",
        **{s.poller: (float, Field(s.interval, gt=0)) for s in streams.polled()
           if s.poller is not None and s.interval is not None},
    )


class LoginPollSettings(_Model):
    """log/login is one call per user: how a large tenant is read within the interval (docs/operations.md).

    Each run reads (1) the next slice of a rotation over every user, sized so a full rotation takes at most
    `sweep_seconds`, (2) the users active since their last read (in the mail log, the login log, or new in the
    directory), most recent first, and (3) more of the rotation, up to the budget. A date closes only after a
    whole rotation started after the date's lag had passed, so nobody's late record is missed. A tenant whose
    users all fit in the budget is read completely every run (one rotation per run).
    """

    budget_calls: int | None = Field(
        None, ge=1, description="log/login calls per run; None = budget_share x the system-log app's rate x interval")
    budget_share: float = Field(0.5, gt=0, le=1, description="share of the system-log app's rate for log/login")
    sweep_seconds: float = Field(3600.0, gt=0, description="every user is read at least this often")
    burst_calls: int = Field(200, ge=1, description="runs with at most this many calls go out at once")
    spread_fraction: float = Field(
        0.8, ge=0, le=1, description="larger runs pace their calls over this share of the interval (0 = at once)")


class PollSettings(_Model):
    intervals: StreamIntervals = Field(default_factory=StreamIntervals)
    login: LoginPollSettings = Field(default_factory=LoginPollSettings)
    lag_seconds: float = Field(
        6 * 3600, ge=0, description="yesterday is re-queried until this long after midnight (late records)"
    )
    backfill_days: int = Field(7, ge=0, le=180, description="dates before today fetched on the first start")
    span_days: int = Field(
        30, ge=1, le=91, description="dates per log query during backfill/catch-up (91 dates = 90 days apart, the "
        "widest span Exmail accepts)")
    error_backoff_initial_seconds: float = Field(5.0, gt=0)
    error_backoff_max_seconds: float = Field(300.0, gt=0)
    options_batch_size: int = Field(50, ge=1, description="useroption/get calls in flight per batch")
    directory_baseline_events: bool = Field(
        False, description="emit 'created' events for everything in the very first directory snapshot"
    )


class HrSettings(_Model):
    hmac_secret: SecretRef
    path: str = "/hr/lifecycle"
    max_body_bytes: int = Field(1024 * 1024, ge=256)
    replay_window_seconds: int = Field(300, ge=1)


class SsoSettings(_Model):
    """The one-click SSO redirector: alerts carry links signed with `secret` (the worker's alerting.sso.secret
    must be the same reference); a click calls service/get_login_url with the corp's sso secret."""

    secret: SecretRef = Field(description="HMAC key of the links, shared with the worker")
    path: str = Field("/sso", pattern=r"^/[A-Za-z0-9/_-]*$")
    ttl_seconds: int = Field(900, ge=60, le=7 * 86400)


class HttpSettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class ClockSettings(_Model):
    """Where "now" comes from: the system clock, or a simulator's clock (its admin API) for fast-clock demos."""

    kind: Literal["system", "sim"] = "system"
    sim_admin_url: str | None = None
    sim_admin_token: SecretRef | None = None
    refresh_seconds: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _sim_needs_url(self) -> ClockSettings:
        if self.kind == "sim" and not self.sim_admin_url:
            raise ValueError("clock.kind 'sim' needs clock.sim_admin_url")
        return self


class IntakeSettings(_Model):
    """Pushed records (callback, HR): how long a pusher waits for our answer, and how long an id is remembered."""

    answer_timeout_seconds: float = Field(
        3.0, ge=1.5, le=60,
        description="a push is answered within this many seconds: 200 once stored, else 503 + Retry-After (keep "
                    "it well under the sender's own timeout; Exmail's simulator waits 5 s)")
    dedup_window_seconds: int = Field(
        900, ge=60, description="a record id stored in this many seconds is not produced again (retried pushes)")


class IngestConfig(_Model):
    """Everything `pipeline ingest` needs."""

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    corps: list[CorpConfig] = Field(min_length=1)
    poll: PollSettings = Field(default_factory=PollSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    hr: HrSettings | None = None
    sso: SsoSettings | None = None
    sso_gateway: SsoGatewaySettings | None = Field(
        None, description="employees' login to their own or a shared mailbox via OIDC or LDAP (pipeline/sso_gateway)"
    )
    clock: ClockSettings = Field(default_factory=ClockSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    auth: AuthConfig = Field(default_factory=AuthConfig, description="who may call the HTTP routes")
    shutdown_grace_seconds: float = Field(20.0, ge=0)

    @model_validator(mode="after")
    def _unique_corps(self) -> IngestConfig:
        for attr in ("name", "corp_id"):
            values = [getattr(c, attr) for c in self.corps]
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"corps: duplicate {attr} {dupes}")
        paths = [c.callback_path for c in self.corps if c.callback]
        if len(paths) != len(set(paths)):
            raise ValueError("corps: two callback endpoints share one path")
        if self.sso_gateway is not None:
            self.gateway_corp()
        return self

    def gateway_corp(self) -> CorpConfig:
        """The corp the SSO gateway serves (named, or the only one); it needs the sso app secret."""
        gw = self.sso_gateway
        assert gw is not None
        if gw.corp is None and len(self.corps) > 1:
            raise ValueError("sso_gateway.corp: name the corp the gateway serves (there are several)")
        corp = self.corps[0] if gw.corp is None else next(
            (c for c in self.corps if gw.corp in (c.name, c.corp_id)), None)
        if corp is None:
            raise ValueError(f"sso_gateway.corp: {gw.corp!r} is not in corps")
        if not corp.secrets.sso:
            raise ValueError(f"sso_gateway: corp {corp.name!r} has no secrets.sso (the SSO app's secret)")
        if self.sso is not None and self.sso.path.rstrip("/") in {f"{gw.path}/mail", f"{gw.path}/oidc/callback",
                                                                   f"{gw.path}/ldap/login"}:
            raise ValueError("sso.path collides with a route of sso_gateway.path")
        return corp

    def corp(self, name: str) -> CorpConfig:
        for c in self.corps:
            if c.name == name or c.corp_id == name:
                return c
        raise KeyError(name)

    @classmethod
    def from_file(cls, path: str | Path) -> IngestConfig:
        """Load YAML or JSON; a top-level `ingest:` section is used when present."""
        text = Path(path).read_text(encoding="utf-8")
        obj: Any = yaml.safe_load(text)
        if isinstance(obj, dict) and isinstance(obj.get("ingest"), dict):
            top = obj
            obj = obj["ingest"]
            for shared in ("kafka", "auth"):  # the top-level sections serve ingest unless it has its own
                if top.get(shared) is not None and shared not in obj:
                    obj = {**obj, shared: top[shared]}
        return cls.model_validate(obj)


def client_settings(corp: CorpConfig, span_days: int) -> ExmailSettings:
    """The corp's ExmailSettings, its secrets resolved from their references (ingest, worker, CLIs: every client of
    a configured corp is built from this)."""
    refs = corp.secrets.model_dump()
    secrets = AppSecrets(**{app: SecretStr(resolve_secret(ref)) for app, ref in refs.items() if ref})
    tune = corp.client
    extra: dict[str, Any] = {}
    if tune.corp_rate is not None or tune.corp_burst is not None:
        rate = tune.corp_rate or 20.0
        extra["corp_rate_limit"] = RateLimit(rate=rate, burst=tune.corp_burst or max(1, int(rate * 2)))
    if tune.app_rate is not None or tune.app_burst is not None:
        rate = tune.app_rate or 10.0
        extra["app_rate_limit"] = RateLimit(rate=rate, burst=tune.app_burst or max(1, int(rate * 2)))
    if tune.per_user_concurrency is not None:
        extra["per_user_concurrency"] = tune.per_user_concurrency
    if tune.read_timeout_seconds is not None:
        extra["read_timeout_seconds"] = tune.read_timeout_seconds
    retry = {k: v for k, v in {
        "max_attempts": tune.max_attempts, "max_total_seconds": tune.max_total_seconds,
        "base_delay_seconds": tune.base_delay_seconds, "max_delay_seconds": tune.max_delay_seconds,
    }.items() if v is not None}
    if retry:
        extra["retry"] = RetrySettings(**retry)
    return ExmailSettings(corp_id=corp.corp_id, base_url=corp.base_url, secrets=secrets,
                          log_span_days=span_days, **extra)


_APP_KEYS = {"contact": "contact", "mail_notice": "mail_notice", "system_log": "system_log",
             "function_setting": "function_setting", "unique_login": "sso"}


def config_from_sim_credentials(path: str | Path, **overrides: Any) -> IngestConfig:
    """A config for a running simulator from the credentials JSON `pipeline sim` writes.

    The app secrets, callback token and AES key in that file are a local simulator's test values; they are
    passed on as "file:" references to owner-only files in "<credentials>.secrets/" so the config itself holds
    no inline secret. The simulator's clock is followed (it may run fast), and its service mailbox is polled
    with mail/newcount. `overrides` replace top-level config sections (e.g. kafka=..., poll=...).
    """
    source = Path(path)
    creds: Any = orjson.loads(source.read_bytes())
    if not isinstance(creds, dict) or "corp_id" not in creds:
        raise ValueError(f"{source}: not a simulator credentials file (no corp_id)")
    secret_dir = source.parent / (source.name + ".secrets")
    secret_dir.mkdir(mode=0o700, exist_ok=True)

    def ref(name: str, value: str) -> str:
        target = secret_dir / re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        target.touch(mode=0o600, exist_ok=True)
        target.write_text(value, encoding="utf-8")
        return f"file:{target}"

    apps = creds.get("secrets") or {}
    corp: dict[str, Any] = {
        "name": "sim",
        "corp_id": str(creds["corp_id"]),
        "base_url": str(creds.get("exmail_base") or str(creds.get("base_url", "")).rstrip("/") + "/cgi-bin/"),
        "secrets": {_APP_KEYS[k]: ref(k, str(v)) for k, v in apps.items() if k in _APP_KEYS and v},
        "utc_offset_minutes": int(creds.get("utc_offset_minutes", 480)),
    }
    if creds.get("domain"):
        corp["domains"] = [str(creds["domain"])]
    if creds.get("service_mailbox"):
        corp["newcount"] = {"mailboxes": [str(creds["service_mailbox"])]}
    if creds.get("callback_token") and creds.get("callback_aes_key"):
        corp["callback"] = {"token": ref("callback_token", str(creds["callback_token"])),
                            "aes_key": ref("callback_aes_key", str(creds["callback_aes_key"]))}
    obj: dict[str, Any] = {"corps": [corp]}
    if creds.get("admin_base"):
        obj["clock"] = {"kind": "sim", "sim_admin_url": str(creds["admin_base"])}
    obj.update(overrides)
    return IngestConfig.model_validate(obj)
