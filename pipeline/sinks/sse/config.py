"""What the SSE endpoint streams, who may connect, and how much one client may cost."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.secrets import SecretRef
from pipeline.sinks.sse._filters import ANY_LABEL, allowed_for, is_known_filter, permits

StreamTopic = Literal["exmail.notifications", "exmail.alerts", "exmail.events", "exmail.deliveries"]

_DEFAULT_TOPICS: tuple[StreamTopic, ...] = ("exmail.notifications",)

#: the SSE `event:` name of a record, by the (unprefixed) topic it comes from
KIND_BY_TOPIC: dict[str, str] = {
    "exmail.notifications": "notification",
    "exmail.alerts": "alert",
    "exmail.events": "event",
    "exmail.deliveries": "delivery",
}


class SseConfig(BaseModel):
    """GET /stream settings. `token` is a secret reference ("env:NAME" or "file:/path"), resolved when the app
    is created, so the model itself never holds the token."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # an inline token must not echo

    topics: list[StreamTopic] = Field(
        default_factory=lambda: list(_DEFAULT_TOPICS), min_length=1,
        description="topics streamed to every client (without the deployment prefix)")
    filters: list[str] | None = Field(
        None, description="query filters clients may use; default: every filter that applies to `topics`. "
                          f"'{ANY_LABEL}' allows label.<name> for any name")
    token: SecretRef | None = Field(None, description='bearer token as "env:NAME" or "file:/path"')
    allow_anonymous: bool = Field(False, description="serve without a token (behind an authenticating proxy)")
    max_clients: int = Field(100, ge=1, description="concurrent streams; more get 503 with Retry-After")
    retry_after_seconds: int = Field(5, ge=1, description="Retry-After sent with 503")
    heartbeat_seconds: float = Field(15.0, gt=0, description="idle interval between `: keepalive` comments")
    reconnect_ms: int = Field(3000, ge=0, description="`retry:` sent to clients: their reconnect delay")
    max_backlog: int = Field(1000, ge=1, description="records read from Kafka, not yet written, per client")
    slow_client_seconds: float = Field(
        10.0, gt=0, description="a client whose backlog stays full this long is dropped (event: overflow)")
    poll_timeout_seconds: float = Field(0.2, gt=0, le=5, description="one consumer poll; bounds stop time")
    start_timeout_seconds: float = Field(10.0, gt=0, description="metadata/offset lookups at stream start")
    prefetch_kbytes: int = Field(1024, ge=64,
                                 description="librdkafka prefetch per client (queued.max.messages.kbytes)")

    @field_validator("topics")
    @classmethod
    def _unique_topics(cls, value: list[StreamTopic]) -> list[StreamTopic]:
        if len(set(value)) != len(value):
            raise ValueError("topics must not repeat")
        return value

    @model_validator(mode="after")
    def _check(self) -> SseConfig:
        if self.token is None and not self.allow_anonymous:
            raise ValueError("set token (a secret reference) or allow_anonymous: true")
        if self.token is not None and self.allow_anonymous:
            raise ValueError("token and allow_anonymous exclude each other")
        if self.filters is not None:
            applicable = allowed_for(self.kinds)
            for name in self.filters:
                if not is_known_filter(name):
                    known = ", ".join(sorted(allowed_for(None)))
                    raise ValueError(f"unknown filter {name!r}; known: {known}")
                if not permits(applicable, name):
                    raise ValueError(f"filter {name!r} matches nothing on {', '.join(self.topics)}")
        return self

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(KIND_BY_TOPIC[t] for t in self.topics)

    def allowed_filters(self) -> frozenset[str]:
        return frozenset(self.filters) if self.filters is not None else allowed_for(self.kinds)
