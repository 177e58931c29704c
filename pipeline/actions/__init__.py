"""Automated account actions: HR lifecycle (joiner / mover / leaver), security responses named by alert rules,
and policy-drift remediation, with dry runs, approvals, limits, undo, a crash-safe ledger and a record of
every action in exmail.actions. The faust wiring calls `ActionService`; see README.md in this folder."""

from typing import TYPE_CHECKING

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

from pipeline.lazy import lazy_attributes

# The service, its HTTP app, ledger, channels and runner load on first use: every process reads the actions
# settings (the config model), only a worker running the actions agent (and the admin commands) use the rest,
# and with its Exmail client and models it is ~0.3 s of start-up.
__getattr__ = lazy_attributes(__name__, {
    "approval": ["ApprovalError", "ApprovalSigner"],
    "channels": ["Credential", "DeliveryFailed", "FileDropChannel", "SecretChannel", "WebhookChannel", "build_channel"],
    "http": ["create_actions_app"],
    "kafka_store": ["KafkaLedgerStore"],
    "ledger": ["Ledger", "LedgerStore", "MappingLedgerStore", "MemoryLedgerStore"],
    "model": ["ACTION_SCHEMA", "ActionRequest", "CallRecord", "LedgerEntry", "LedgerState", "RecordStatus", "Trigger"],
    "outputs": ["ActionOutput", "KafkaActionOutput", "MemoryActionOutput"],
    "runner": ["ActionsRunner"],
    "service": ["ActionService"],
})

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
