"""SSO gateway: employees open their own or a shared Exmail mailbox after logging in with the company's
OpenID Connect provider or LDAP directory; every login, allowed or refused, is recorded on exmail.actions.

Mounted on the ingest process (`ingest.sso_gateway` in the config); see docs/sso-gateway.md.
"""

from typing import TYPE_CHECKING

from pipeline.lazy import lazy_attributes
from pipeline.sso_gateway._errors import LoginRefused
from pipeline.sso_gateway._pages import REFUSALS
from pipeline.sso_gateway._tokens import MIN_SECRET_CHARS
from pipeline.sso_gateway.config import LdapSettings, OidcSettings, SharedMailbox, SsoGatewaySettings

if TYPE_CHECKING:
    from pipeline.sso_gateway._gateway import ROUTES, GatewayRoute, SsoGateway

# The gateway itself loads on first use: every process reads the gateway's settings (the config model), only the
# ingest process runs it, and its LDAP, OIDC and JWT libraries are ~0.2 s of a worker's start-up.
__getattr__ = lazy_attributes(__name__, {"_gateway": ["ROUTES", "GatewayRoute", "SsoGateway"]})

__all__ = [
    "MIN_SECRET_CHARS",
    "REFUSALS",
    "ROUTES",
    "GatewayRoute",
    "LdapSettings",
    "LoginRefused",
    "OidcSettings",
    "SharedMailbox",
    "SsoGateway",
    "SsoGatewaySettings",
]
