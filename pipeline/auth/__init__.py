"""Authentication and authorization for every HTTP surface (worker, ingest, their sub-applications).

A route declares who may call it where its handler is defined:

    @requires(Role.OPERATOR)            # bearer token (or client certificate) holding operator or admin
    async def post_silence(request): ...

    @public("signed by Exmail (msg_signature)")   # anyone; the reason says what protects it instead
    async def callback(request): ...

`secure_app(app, Authenticator(config.auth), process=..., host=...)` installs the guard and refuses to start
with an undeclared route, or with state-changing routes and no credentials (see docs/operations.md).
Handlers read the caller with `principal_of(request)`; the identity recorded anywhere comes from there.
"""

from pipeline.auth._access import Access, MountedRoute, Role, declare_routes, public, requires, route_table
from pipeline.auth._audit import (
    OPERATOR_SCHEMA,
    KafkaOperatorLog,
    MemoryOperatorLog,
    OperatorLog,
    operator_event,
)
from pipeline.auth._authn import Authenticator, AuthFailure, Principal, is_loopback
from pipeline.auth._guard import InsecureStartError, check_startup, principal_of, require, secure_app
from pipeline.auth._session import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, SessionCodec
from pipeline.auth.config import AuthConfig, MtlsSettings, TokenCredential

__all__ = [
    "CSRF_FIELD", "CSRF_HEADER", "OPERATOR_SCHEMA", "SESSION_COOKIE", "Access", "AuthConfig", "AuthFailure",
    "Authenticator", "InsecureStartError", "KafkaOperatorLog", "MemoryOperatorLog", "MountedRoute", "MtlsSettings",
    "OperatorLog", "Principal", "Role", "SessionCodec", "TokenCredential", "check_startup", "declare_routes",
    "is_loopback", "operator_event", "principal_of", "public", "require", "requires", "route_table", "secure_app",
]
