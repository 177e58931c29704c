"""LDAP login: find the user's DN with the service account, bind as the user, read the groups listing that DN.

ldap3 is synchronous; each login runs in a worker thread with its own short-lived connections (a login is
rare, and a shared connection would serialise logins behind a slow directory). Unknown user and wrong
password are one refusal, so the form does not reveal which accounts exist. An empty password is refused
before any bind: LDAP servers treat a simple bind without password as an anonymous (successful) bind.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from pipeline.sso_gateway._errors import LoginRefused
from pipeline.sso_gateway.config import LdapSettings

log = logging.getLogger("pipeline.sso_gateway")

MAX_USERNAME_CHARS = 256
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True, slots=True)
class LdapIdentity:
    dn: str
    username: str
    mailbox: str | None
    groups: tuple[str, ...]


def _first(value: object) -> str | None:
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    return str(value) if value not in (None, "") else None


class LdapAuthenticator:
    def __init__(self, settings: LdapSettings, bind_password: str) -> None:
        self.settings = settings
        self._bind_password = bind_password
        parts = urlsplit(settings.url)
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED) if parts.scheme == "ldaps" or settings.start_tls else None
        self._server = ldap3.Server(parts.hostname or "localhost", port=parts.port,
                                    use_ssl=parts.scheme == "ldaps", tls=tls, get_info=ldap3.NONE,
                                    connect_timeout=settings.timeout_seconds)

    def __repr__(self) -> str:
        return f"LdapAuthenticator(url={self.settings.url!r}, bind_dn={self.settings.bind_dn!r})"

    async def authenticate(self, username: str, password: str) -> LdapIdentity:
        username = username.strip()
        if not username or not password:
            raise LoginRefused("bad_credentials", "empty user name or password")
        if len(username) > MAX_USERNAME_CHARS or len(password) > MAX_PASSWORD_CHARS \
                or any(ord(c) < 32 for c in username):
            raise LoginRefused("bad_credentials", "user name or password of an impossible form")
        try:
            return await asyncio.to_thread(self._authenticate, username, password)
        except LoginRefused:
            raise
        except LDAPException as exc:
            raise LoginRefused("directory_unavailable", f"LDAP: {type(exc).__name__}") from None
        except Exception as exc:  # anything else from the client library: a clear page, not a 500
            log.exception("sso_gateway: LDAP login failed unexpectedly")
            raise LoginRefused("directory_unavailable", f"LDAP client: {type(exc).__name__}") from None

    def _connect(self, user: str, password: str) -> ldap3.Connection:
        conn = ldap3.Connection(self._server, user=user, password=password, auto_bind=ldap3.AUTO_BIND_NONE,
                                receive_timeout=math.ceil(self.settings.timeout_seconds),  # an int socket option
                                read_only=True,
                                raise_exceptions=False)
        conn.open()
        if self.settings.start_tls:
            conn.start_tls()
        return conn

    def _authenticate(self, username: str, password: str) -> LdapIdentity:
        s = self.settings
        service = self._connect(s.bind_dn, self._bind_password)
        try:
            if not service.bind():
                raise LoginRefused("directory_unavailable", "the service account could not bind "
                                   f"({service.result.get('description')})")
            user_filter = s.user_filter.format(username=escape_filter_chars(username))
            service.search(s.user_base, user_filter, ldap3.SUBTREE, attributes=[s.mailbox_attribute], size_limit=2)
            entries = [e for e in service.response or [] if e.get("type") == "searchResEntry"]
            if len(entries) != 1:
                raise LoginRefused("bad_credentials", f"{len(entries)} directory entries match the user name")
            dn = str(entries[0]["dn"])
            mailbox = _first(entries[0].get("attributes", {}).get(s.mailbox_attribute))
            user = self._connect(dn, password)
            try:
                if not user.bind():
                    raise LoginRefused("bad_credentials", "the directory refused the password")
            finally:
                user.unbind()
            group_filter = s.group_filter.format(user_dn=escape_filter_chars(dn),
                                                 username=escape_filter_chars(username))
            service.search(s.group_base, group_filter, ldap3.SUBTREE, attributes=[s.group_name_attribute])
            groups = sorted({name for e in service.response or [] if e.get("type") == "searchResEntry"
                             if (name := _first(e.get("attributes", {}).get(s.group_name_attribute)))})
            return LdapIdentity(dn=dn, username=username, mailbox=mailbox, groups=tuple(groups))
        finally:
            service.unbind()
