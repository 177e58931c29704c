"""The `auth` section: who may call the HTTP surfaces of `pipeline worker` and `pipeline ingest`.

Credentials are secret references (bearer tokens; optionally client certificates over TLS); each names the
principal recorded in silences, approvals and the audit trail, and the roles it holds.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.auth._access import Role
from pipeline.secrets import SecretRef


class TokenCredential(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$",
                      description="the principal: recorded as created_by / approved_by / undone_by and in audit")
    roles: list[Role] = Field(min_length=1, description="viewer, operator, approver, admin")
    token: SecretRef = Field(description="the bearer token, env:NAME or file:/path (at least 24 characters)")


class MtlsSettings(BaseModel):
    """Serve HTTPS; a client certificate signed by `client_ca_file` whose subject CN is in `clients` is a
    principal with those roles (bearer tokens keep working next to it)."""

    model_config = ConfigDict(extra="forbid")

    cert_file: Path
    key_file: Path
    client_ca_file: Path
    require_client_cert: bool = Field(False, description="refuse the TLS handshake without a client certificate")
    clients: dict[str, list[Role]] = Field(default_factory=dict, description="certificate CN -> roles")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.client_ca_file))
        ctx.load_cert_chain(str(self.cert_file), str(self.key_file))
        ctx.verify_mode = ssl.CERT_REQUIRED if self.require_client_cert else ssl.CERT_OPTIONAL
        return ctx


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    tokens: list[TokenCredential] = Field(default_factory=list)
    mtls: MtlsSettings | None = None
    max_failures: int = Field(10, ge=1, description="failed authentications per client address per window")
    failure_window_seconds: float = Field(60.0, gt=0)
    insecure_anonymous_admin_on_loopback: bool = Field(
        False, description="INSECURE: with no credentials configured, every caller is an admin. Accepted only "
        "when the server binds a loopback address (local experiments); never in production")

    @model_validator(mode="after")
    def _unique_names(self) -> AuthConfig:
        names = [t.name for t in self.tokens]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"token names must be unique (they are the recorded identity): {dupes}")
        return self

    @property
    def has_credentials(self) -> bool:
        return bool(self.tokens) or bool(self.mtls and self.mtls.clients)
