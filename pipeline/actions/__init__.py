"""Automated account actions: HR lifecycle (joiner / mover / leaver), security responses named by alert rules,
and policy-drift remediation, with dry runs, approvals, limits, undo, a crash-safe ledger and a record of
every action in exmail.actions. The faust wiring calls `ActionService`; see README.md in this folder."""

import importlib
from typing import TYPE_CHECKING, Any

from pipeline.actions.config import ActionKind, ActionsConfig, PasswordPolicy, SecurityRoute
from pipeline.actions.errors import ActionInputError, ActionNotFound, ActionStateError

if TYPE_CHECKING:
    from pipeline.actions.approval import ApprovalError, ApprovalSigner
    from pipeline.actions.channels import (
        Credential,
        DeliveryFailed,
        FileDropChannel,
        SecretChannel,
        WebhookChannel,
        build_channel,
    )
    from pipeline.actions.http import create_actions_app
    from pipeline.actions.kafka_store import KafkaLedgerStore
    from pipeline.actions.ledger import Ledger, LedgerStore, MappingLedgerStore, MemoryLedgerStore
    from pipeline.actions.model import (
        ACTION_SCHEMA,
        ActionRequest,
        CallRecord,
        LedgerEntry,
        LedgerState,
        RecordStatus,
        Trigger,
    )
    from pipeline.actions.outputs import ActionOutput, KafkaActionOutput, MemoryActionOutput
    from pipeline.actions.runner import ActionsRunner
    from pipeline.actions.service import ActionService

# name -> the module that defines it, imported on first use (see __getattr__)
_LAZY: dict[str, str] = {
    "ApprovalError": "pipeline.actions.approval",
    "ApprovalSigner": "pipeline.actions.approval",
    "Credential": "pipeline.actions.channels",
    "DeliveryFailed": "pipeline.actions.channels",
    "FileDropChannel": "pipeline.actions.channels",
    "SecretChannel": "pipeline.actions.channels",
    "WebhookChannel": "pipeline.actions.channels",
    "build_channel": "pipeline.actions.channels",
    "create_actions_app": "pipeline.actions.http",
    "KafkaLedgerStore": "pipeline.actions.kafka_store",
    "Ledger": "pipeline.actions.ledger",
    "LedgerStore": "pipeline.actions.ledger",
    "MappingLedgerStore": "pipeline.actions.ledger",
    "MemoryLedgerStore": "pipeline.actions.ledger",
    "ACTION_SCHEMA": "pipeline.actions.model",
    "ActionRequest": "pipeline.actions.model",
    "CallRecord": "pipeline.actions.model",
    "LedgerEntry": "pipeline.actions.model",
    "LedgerState": "pipeline.actions.model",
    "RecordStatus": "pipeline.actions.model",
    "Trigger": "pipeline.actions.model",
    "ActionOutput": "pipeline.actions.outputs",
    "KafkaActionOutput": "pipeline.actions.outputs",
    "MemoryActionOutput": "pipeline.actions.outputs",
    "ActionsRunner": "pipeline.actions.runner",
    "ActionService": "pipeline.actions.service",
}


def __getattr__(name: str) -> Any:
    """The service, its HTTP app, ledger, channels and runner on first use: every process reads the actions
    settings (the config model), only a worker running the actions agent (and the admin commands) use the
    rest, and with its Exmail client and models it is ~0.3 s of start-up."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "ACTION_SCHEMA",
    "ActionInputError",
    "ActionKind",
    "ActionNotFound",
    "ActionOutput",
    "ActionRequest",
    "ActionService",
    "ActionStateError",
    "ActionsConfig",
    "ActionsRunner",
    "ApprovalError",
    "ApprovalSigner",
    "CallRecord",
    "Credential",
    "DeliveryFailed",
    "FileDropChannel",
    "KafkaActionOutput",
    "KafkaLedgerStore",
    "Ledger",
    "LedgerEntry",
    "LedgerState",
    "LedgerStore",
    "MappingLedgerStore",
    "MemoryActionOutput",
    "MemoryLedgerStore",
    "PasswordPolicy",
    "RecordStatus",
    "SecretChannel",
    "SecurityRoute",
    "Trigger",
    "WebhookChannel",
    "build_channel",
    "create_actions_app",
]
