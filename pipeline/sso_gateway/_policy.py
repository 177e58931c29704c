"""Who may open which mailbox: everyone their own (if inside the corp's domains), group members a shared one."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.sso_gateway._errors import LoginRefused
from pipeline.sso_gateway.config import SsoGatewaySettings, is_mailbox


@dataclass(frozen=True, slots=True)
class Identity:
    """An authenticated employee: `subject` is the IdP's sub or the LDAP DN; `login` what they typed or their
    e-mail; `mailbox` their own mailbox if the IdP/directory names one."""

    method: str
    subject: str
    login: str
    mailbox: str | None
    groups: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Grant:
    mailbox: str
    shared: bool
    via_groups: tuple[str, ...]


def requested_box(raw: str | None) -> str | None:
    """The ?box= parameter, normalised; raises LoginRefused('bad_request') when it is not a mailbox."""
    if raw is None or raw.strip() == "":
        return None
    box = raw.strip().lower()
    if len(box) > 254 or not is_mailbox(box):
        raise LoginRefused("bad_request", "box is not a mailbox address")
    return box


class AccessPolicy:
    def __init__(self, settings: SsoGatewaySettings) -> None:
        self.settings = settings
        self._shared = {b.mailbox: frozenset(g.casefold() for g in b.groups) for b in settings.shared}
        self._domains = frozenset(settings.domains)

    def __repr__(self) -> str:
        return f"AccessPolicy(own={self.settings.own_mailbox}, shared={sorted(self._shared)})"

    def own(self, identity: Identity) -> str | None:
        box = (identity.mailbox or "").strip().lower()
        if not box or not is_mailbox(box) or box.rsplit("@", 1)[1] not in self._domains:
            return None
        return box

    def decide(self, identity: Identity, box: str | None) -> Grant:
        """The mailbox this identity may open for the request, or LoginRefused saying why not."""
        own = self.own(identity)
        if box is None or box == own:
            if own is None:
                raise LoginRefused("no_own_mailbox", f"the identity names no mailbox in {sorted(self._domains)}")
            if not self.settings.own_mailbox:
                raise LoginRefused("not_allowed", "own mailboxes are not served by this gateway")
            return Grant(own, shared=False, via_groups=())
        allowed = self._shared.get(box)
        if allowed is None:
            raise LoginRefused("not_allowed", f"{box} is neither the identity's own nor a configured shared mailbox")
        via = tuple(g for g in identity.groups if g.casefold() in allowed)
        if not via:
            raise LoginRefused("not_in_group", f"none of the identity's groups may open {box}")
        return Grant(box, shared=True, via_groups=via)
