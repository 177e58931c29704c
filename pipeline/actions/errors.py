"""What the actions service raises to its callers: the agent dead-letters ActionInputError, the HTTP API maps
ActionNotFound to 404 and ActionStateError to 409."""

from __future__ import annotations


class ActionInputError(ValueError):
    """A trigger record cannot be turned into an action (dead-letter it); the message names the field."""


class ActionNotFound(LookupError):
    """No action with this id in the ledger."""


class ActionStateError(ValueError):
    """The action is not in a state that allows this (approve a finished action, undo a dry run...)."""
