"""Config of the SSO gateway (`ingest.sso_gateway`): who may open which mailbox, and how employees log in.

Secrets (the gateway's signing key, the OIDC client secret, the LDAP bind password) are references
("env:NAME" or "file:/path") resolved when the ingest process starts.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pipeline.secrets import SecretRef

_MAILBOX = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,190}$")
_URL = r"^https?://[^\s/]+(/[^\s]*)?$"
# asymmetric algorithms only: "none" and HS* (keyed with the client secret) are never accepted for ID tokens
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


def is_mailbox(value: str) -> bool:
    return bool(_MAILBOX.match(value))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)


class OidcSettings(_Model):
    """An OpenID Connect provider: authorization code flow with PKCE (S256), state and nonce; the ID token is
    verified against the provider's JWKS (signature, iss, aud, exp, nonce)."""

    issuer: str = Field(pattern=_URL, description="the provider's issuer URL; discovery is read from "
                        "<issuer>/.well-known/openid-configuration")
    client_id: str = Field(min_length=1)
    client_secret: SecretRef = Field(description="sent with HTTP Basic auth to the token endpoint")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    mailbox_claim: str = Field("email", min_length=1, description="claim holding the employee's own mailbox")
    groups_claim: str = Field("groups", min_length=1, description="claim holding the employee's groups")
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256", "EdDSA"])
    leeway_seconds: int = Field(60, ge=0, le=300, description="clock skew allowed on exp/iat")
    timeout_seconds: float = Field(10.0, gt=0, le=60)

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        if "openid" not in value:
            raise ValueError("scopes must include 'openid'")
        return value

    @field_validator("algorithms")
    @classmethod
    def _asymmetric(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in ID_TOKEN_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"ID token algorithms must be among {list(ID_TOKEN_ALGORITHMS)} (got {bad or value})")
        return value


def _formattable(template: str) -> str:
    try:
        template.format(username="u", user_dn="cn=u")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(f"only the placeholders {{username}} and {{user_dn}} may appear ({exc})") from None
    return template


class LdapSettings(_Model):
    """An LDAP directory: search the user's DN with a service account, bind as the user with the password from
    the login form, then search the groups that list the user's DN."""

    url: str = Field(pattern=r"^ldaps?://[^\s/]+/?$", description="ldap://host:389 or ldaps://host:636")
    start_tls: bool = Field(False, description="upgrade an ldap:// connection with StartTLS before binding")
    bind_dn: str = Field(min_length=1, description="service account that may search users and groups")
    bind_password: SecretRef
    user_base: str = Field(min_length=1)
    user_filter: str = Field("(uid={username})", description="{username} is escaped (RFC 4515) before use")
    mailbox_attribute: str = Field("mail", min_length=1)
    group_base: str = Field(min_length=1)
    group_filter: str = Field("(member={user_dn})", description="{user_dn} and {username} are escaped")
    group_name_attribute: str = Field("cn", min_length=1)
    timeout_seconds: float = Field(5.0, gt=0, le=60)

    @field_validator("user_filter")
    @classmethod
    def _user_placeholder(cls, value: str) -> str:
        if "{username}" not in value or not (value.startswith("(") and value.endswith(")")):
            raise ValueError("user_filter must be a parenthesised LDAP filter containing {username}")
        return _formattable(value)

    @field_validator("group_filter")
    @classmethod
    def _group_placeholder(cls, value: str) -> str:
        if not ("{user_dn}" in value or "{username}" in value) or not (value.startswith("(") and value.endswith(")")):
            raise ValueError("group_filter must be a parenthesised LDAP filter containing {user_dn} or {username}")
        return _formattable(value)


class SharedMailbox(_Model):
    """A shared mailbox (e.g. the customer-service box) and the groups whose members may open it."""

    mailbox: str
    groups: list[str] = Field(min_length=1)

    @field_validator("mailbox")
    @classmethod
    def _mailbox(cls, value: str) -> str:
        if not is_mailbox(value):
            raise ValueError(f"{value!r} is not a mailbox address")
        return value.lower()


class SsoGatewaySettings(_Model):
    """Employees open <path>/mail (their own mailbox) or <path>/mail?box=ADDRESS (a shared one); the gateway
    logs them in with OIDC or LDAP, checks `shared`, and redirects to Exmail's one-time login URL."""

    corp: str | None = Field(None, description="name of the corp (in ingest.corps) whose mailboxes are served "
                             "and whose sso secret is used; may be left out when there is one corp")
    path: str = Field("/sso", pattern=r"^(/[A-Za-z0-9_-]+)+$", description="prefix of the gateway's routes")
    public_url: str = Field(pattern=_URL, description="this ingest process as browsers reach it, e.g. "
                            "https://mail-gw.example.com; the OIDC redirect_uri is <public_url><path>/oidc/callback")
    secret: SecretRef = Field(description="at least 32 characters: signs state and encrypts the login cookies")
    domains: list[str] = Field(min_length=1, description="mail domains of the corp; an identity whose mailbox "
                               "is outside them has no own mailbox here")
    own_mailbox: bool = Field(True, description="everyone may open their own mailbox")
    shared: list[SharedMailbox] = Field(default_factory=list)
    default_method: Literal["oidc", "ldap"] | None = Field(
        None, description="login used by /mail when both are configured (else the configured one); ?via= overrides"
    )
    oidc: OidcSettings | None = None
    ldap: LdapSettings | None = None
    cookie_secure: bool = Field(True, description="mark cookies Secure (turn off only for plain-http tests)")
    state_ttl_seconds: int = Field(300, ge=30, le=1800, description="how long a started login may take")
    session_ttl_seconds: int = Field(900, ge=0, le=12 * 3600,
                                     description="how long a login is reused for further mailboxes; 0 = never")

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        return [d.strip().lower() for d in value]

    @model_validator(mode="after")
    def _consistent(self) -> SsoGatewaySettings:
        if self.oidc is None and self.ldap is None:
            raise ValueError("configure at least one login method: oidc or ldap")
        if self.default_method is not None and getattr(self, self.default_method) is None:
            raise ValueError(f"default_method {self.default_method!r} is not configured")
        for box in self.shared:
            if box.mailbox.rsplit("@", 1)[1] not in self.domains:
                raise ValueError(f"shared mailbox {box.mailbox} is outside domains {self.domains}")
        boxes = [b.mailbox for b in self.shared]
        if len(boxes) != len(set(boxes)):
            raise ValueError("shared: a mailbox is listed twice")
        return self

    @property
    def methods(self) -> list[str]:
        return [m for m in ("oidc", "ldap") if getattr(self, m) is not None]

    @property
    def method(self) -> str:
        """The login used when the request does not choose one."""
        return self.default_method or self.methods[0]

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}{self.path}/oidc/callback"
