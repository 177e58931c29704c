"""Exmail userid -> WeCom userid: an explicit map first, then a rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from pipeline.sinks.wecom_app.config import UserRule


class UserMapper:
    def __init__(self, explicit: Mapping[str, str], rule: UserRule = "local_part", lowercase: bool = True) -> None:
        self._explicit = {k.lower(): v for k, v in explicit.items()}
        self._rule = rule
        self._lower = lowercase

    def __call__(self, exmail_userid: str) -> str | None:
        """The WeCom userid, or None when neither the map nor the rule gives one."""
        uid = exmail_userid.strip()
        if uid == "@all":
            return uid
        found = self._explicit.get(uid.lower())
        if found is not None:
            return found or None
        if self._rule == "map_only" or not uid:
            return None
        mapped = uid.split("@", 1)[0] if self._rule == "local_part" else uid
        mapped = mapped.lower() if self._lower else mapped
        return mapped or None

    def map_all(self, userids: Iterable[str]) -> tuple[list[str], list[str]]:
        """(WeCom userids in first-seen order without duplicates, Exmail userids that did not map)."""
        mapped: dict[str, None] = {}
        unmapped: list[str] = []
        for uid in userids:
            m = self(uid)
            if m is None:
                unmapped.append(uid)
            else:
                mapped[m] = None
        return list(mapped), unmapped
