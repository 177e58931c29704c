"""Settings of one corp's Exmail client. Secrets arrive resolved (config references are resolved elsewhere
with pipeline.secrets.resolve_secret) and stay in SecretStr so they never show in reprs or errors.

Defaults where the reference gives no number: Exmail documents no rate limits (only errcode 45009), so the
buckets are conservative and meant to be tuned per deployment.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pipeline.exmail.models import App

DEFAULT_BASE_URL = "https://api.exmail.qq.com/cgi-bin/"


class AppSecrets(BaseModel):
    """One secret per app; an app left out cannot be called (its endpoints raise AuthError)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    contact: SecretStr | None = None
    sso: SecretStr | None = None
    mail_notice: SecretStr | None = None
    system_log: SecretStr | None = None
    function_setting: SecretStr | None = None

    def for_app(self, app: App) -> SecretStr | None:
        secret: SecretStr | None = getattr(self, app.value)
        return secret


class RateLimit(BaseModel):
    """Token bucket: `rate` requests per second sustained, `burst` at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(gt=0, description="sustained requests per second")
    burst: int = Field(ge=1, description="requests allowed at once after an idle period")


class RetrySettings(BaseModel):
    """Budget for retrying -1, 45009, HTTP 5xx, timeouts and connection errors (full-jitter backoff)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(5, ge=1, description="HTTP attempts per call, the first one included")
    max_total_seconds: float = Field(60.0, gt=0, description="no retry starts that would end after this")
    base_delay_seconds: float = Field(0.5, gt=0, description="backoff cap of the first retry")
    max_delay_seconds: float = Field(20.0, gt=0, description="backoff cap of any retry")


class ExmailSettings(BaseModel):
    """Everything one ExmailClient (one corp) needs."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    corp_id: str = Field(min_length=1, description="the corp id (wm.../ww... in the admin console)")
    base_url: str = Field(DEFAULT_BASE_URL, description="API root; point it at the simulator in tests")
    secrets: AppSecrets = Field(default_factory=AppSecrets)
    connect_timeout_seconds: float = Field(5.0, gt=0)
    read_timeout_seconds: float = Field(30.0, gt=0, description="log queries over long spans can be slow")
    retry: RetrySettings = Field(default_factory=RetrySettings)
    corp_rate_limit: RateLimit = Field(default_factory=lambda: RateLimit(rate=20.0, burst=40))
    app_rate_limit: RateLimit = Field(
        default_factory=lambda: RateLimit(rate=10.0, burst=20),
        description="applied to each app separately unless app_rate_limits names it",
    )
    app_rate_limits: dict[App, RateLimit] = Field(default_factory=dict)
    per_user_concurrency: int = Field(8, ge=1, description="in-flight calls to per-user endpoints")
    token_refresh_margin_seconds: float = Field(300.0, ge=0, description="refresh this long before expiry")
    log_span_days: int = Field(
        30, ge=1, le=91,
        description="dates per log query; longer ranges are split. 91 dates = 90 days apart, the widest span the "
        "server is known to accept (SUN saw 601002 at 91 days apart; the simulator's default limit is 90)",
    )
    max_connections: int = Field(20, ge=1)

    @field_validator("base_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value if value.endswith("/") else value + "/"

    @model_validator(mode="after")
    def _delays_ordered(self) -> ExmailSettings:
        if self.retry.max_delay_seconds < self.retry.base_delay_seconds:
            raise ValueError("retry.max_delay_seconds must be >= retry.base_delay_seconds")
        return self

    def rate_limit_for(self, app: App) -> RateLimit:
        return self.app_rate_limits.get(app, self.app_rate_limit)
