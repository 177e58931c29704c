"""Initial passwords: generated with `secrets`, held in SecretStr, never printed.

Exmail's rule (reference §4.2): upper case, lower case and digits, 6-32 characters, no account information.
"""

from __future__ import annotations

import secrets
import string

from pydantic import SecretStr

from pipeline.actions.config import PasswordPolicy

_AMBIGUOUS = set("0O1lI")


def _alphabet(chars: str, policy: PasswordPolicy) -> str:
    return "".join(c for c in chars if not (policy.avoid_ambiguous and c in _AMBIGUOUS))


def generate_password(policy: PasswordPolicy, account: str = "") -> SecretStr:
    """A password with at least one upper, lower and digit (and symbol if enabled), not containing the
    account's local part."""
    classes = [
        _alphabet(string.ascii_uppercase, policy),
        _alphabet(string.ascii_lowercase, policy),
        _alphabet(string.digits, policy),
    ]
    if policy.symbols:
        classes.append(policy.symbol_set)
    everything = "".join(classes)
    local = account.split("@", 1)[0].lower()
    rng = secrets.SystemRandom()
    while True:
        chars = [secrets.choice(c) for c in classes]
        chars += [secrets.choice(everything) for _ in range(policy.length - len(chars))]
        rng.shuffle(chars)
        candidate = "".join(chars)
        if len(local) < 3 or local not in candidate.lower():
            return SecretStr(candidate)


def satisfies_exmail_rule(password: str) -> bool:
    return (
        6 <= len(password) <= 32
        and any(c.isupper() for c in password)
        and any(c.islower() for c in password)
        and any(c.isdigit() for c in password)
    )
