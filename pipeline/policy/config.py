"""The `policy:` section of a corp: desired useroption settings per department, mail group and user.

```yaml
ingest:
  corps:
    - name: acme
      policy:
        default: {force_secure_login: "1"}            # company default
        departments:
          "研发中心": {imap_smtp: "0", pop_smtp: "0"}     # inherited by every sub-department
          "研发中心/运维组": {imap_smtp: "1"}               # a deeper department wins
        groups:
          "contractors@acme.com": {pop_smtp: "0"}      # beats departments; first listed group wins
        users:
          "ceo@acme.com": {force_secure_login: "0"}    # a user exception beats everything
```

Option keys are the documented useroption types by number (1, 2, 3) or name (force_secure_login, imap_smtp,
pop_smtp); values "0"/"1" (or true/false). Type 4 (secure login enabled) is read-only and cannot be a policy.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

OPTION_NAMES: dict[str, int] = {"force_secure_login": 1, "imap_smtp": 2, "pop_smtp": 3}
OPTION_LABELS: dict[int, str] = {v: k for k, v in OPTION_NAMES.items()} | {4: "secure_login_enabled"}
SETTABLE = frozenset(OPTION_NAMES.values())


def _option_key(key: Any) -> int:
    if isinstance(key, bool):
        raise ValueError(f"option {key!r}: use a type number (1-3) or a name ({', '.join(OPTION_NAMES)})")
    text = str(key).strip().lower()
    if text in OPTION_NAMES:
        return OPTION_NAMES[text]
    if text.isdigit() and int(text) in SETTABLE:
        return int(text)
    if text in ("4", "secure_login_enabled"):
        raise ValueError("useroption type 4 (secure login enabled) is read-only: it cannot be a policy")
    raise ValueError(f"unknown option {key!r}: use 1-3 or {', '.join(OPTION_NAMES)}")


def _option_value(key: int, value: Any) -> str:
    if value is True or value in (1, "1", "on", "true"):
        return "1"
    if value is False or value in (0, "0", "off", "false"):
        return "0"
    raise ValueError(f"{OPTION_LABELS[key]}: value {value!r} must be '0' or '1'")


def _settings(value: Any) -> dict[int, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("option settings must be a mapping such as {imap_smtp: '0'}")
    out: dict[int, str] = {}
    for key, setting in value.items():
        otype = _option_key(key)
        out[otype] = _option_value(otype, setting)
    return out


def _lower_keys(value: Any) -> Any:
    return {str(k).strip().lower(): v for k, v in value.items()} if isinstance(value, dict) else value


def _paths(value: Any) -> Any:
    return {str(k).strip().strip("/"): v for k, v in value.items()} if isinstance(value, dict) else value


Settings = Annotated[dict[int, str], BeforeValidator(_settings)]


class OptionPolicy(BaseModel):
    """Precedence, highest first: users > groups (in the order listed) > departments (deepest first) > default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: Settings = Field(default_factory=dict, description="company default for every member")
    departments: Annotated[dict[str, Settings], BeforeValidator(_paths)] = Field(
        default_factory=dict, description="department path (as in department_paths, e.g. 'R&D/Mail') -> settings")
    groups: Annotated[dict[str, Settings], BeforeValidator(_lower_keys)] = Field(
        default_factory=dict, description="mail group address -> settings for its members (nested groups count)")
    users: Annotated[dict[str, Settings], BeforeValidator(_lower_keys)] = Field(
        default_factory=dict, description="userid -> exceptions")
