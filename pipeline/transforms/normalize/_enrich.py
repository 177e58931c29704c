"""Directory enrichment: who the event's users are (full name, department) at normalize time."""

from __future__ import annotations

from typing import Any, Protocol, TypedDict


class DirectoryUser(TypedDict, total=False):
    """What the directory knows about one account; department ids and paths are parallel lists."""

    name: str | None
    department_ids: list[int | str]
    department_paths: list[str]
    enable: bool | int


class DirectoryLookup(Protocol):
    """Read access to the current address book (e.g. a table kept from exmail.raw.directory)."""

    def user(self, corp_id: str, userid: str) -> DirectoryUser | None: ...


def enrich(doc: dict[str, Any], corp_id: str, directory: DirectoryLookup) -> None:
    """Fill user.full_name / user.group (first department) and the same for user.target, never overwriting
    what the record itself said; all departments and the enabled flag of the subject user go to exmail.user."""
    user = doc.get("user")
    if not user:
        return
    userid = user.get("id")
    if userid:
        entry = directory.user(corp_id, userid)
        if entry:
            _fill(user, entry)
            _fill_ocsf(doc["ocsf"], userid, entry)
            facts: dict[str, Any] = {}
            if "department_ids" in entry:
                facts["department_ids"] = [str(d) for d in entry["department_ids"]]
            if "department_paths" in entry:
                facts["department_paths"] = list(entry["department_paths"])
            if entry.get("enable") is not None:
                facts["enabled"] = bool(entry["enable"])
            if facts:
                doc["exmail"]["user"] = facts
    target = user.get("target")
    if target and target.get("id"):
        entry = directory.user(corp_id, target["id"])
        if entry:
            _fill(target, entry)
            _fill_ocsf(doc["ocsf"], target["id"], entry)


def _fill(user: dict[str, Any], entry: DirectoryUser) -> None:
    name = entry.get("name")
    if name and "full_name" not in user:
        user["full_name"] = name
    if "group" not in user:
        ids = entry.get("department_ids") or []
        paths = entry.get("department_paths") or []
        group: dict[str, Any] = {}
        if ids:
            group["id"] = str(ids[0])
        if paths:
            group["name"] = paths[0]
        if group:
            user["group"] = group


def _fill_ocsf(ocsf: dict[str, Any], userid: str, entry: DirectoryUser) -> None:
    name = entry.get("name")
    if not name:
        return
    for holder in (ocsf, ocsf.get("actor") or {}):
        ocsf_user = holder.get("user")
        if ocsf_user and ocsf_user.get("uid") == userid and "full_name" not in ocsf_user:
            ocsf_user["full_name"] = name
