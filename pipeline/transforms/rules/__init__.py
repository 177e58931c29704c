"""Alert rules: normalized events (exmail.events) in, alerts (exmail.alerts) out. See README.md here."""

from pipeline.transforms.rules.alert import ALERT_SCHEMA, Alert, AlertError, alert_fingerprint
from pipeline.transforms.rules.config import (
    DEFAULT_RULES_PATH,
    FieldMatcherConfig,
    RuleConfig,
    RulePackConfig,
    RulesConfigError,
    load_default_rules,
    load_rules,
    parse_rules,
)
from pipeline.transforms.rules.durations import Duration, format_duration, parse_duration
from pipeline.transforms.rules.engine import RuleEngine, RuleEvaluationError, RuleInputError
from pipeline.transforms.rules.state import (
    JSONValue,
    MemoryRuleState,
    RuleState,
    RuleStateUnavailable,
    TableRuleState,
)

__all__ = [
    "ALERT_SCHEMA",
    "DEFAULT_RULES_PATH",
    "Alert",
    "AlertError",
    "Duration",
    "FieldMatcherConfig",
    "JSONValue",
    "MemoryRuleState",
    "RuleConfig",
    "RuleEngine",
    "RuleEvaluationError",
    "RuleInputError",
    "RulePackConfig",
    "RuleState",
    "RuleStateUnavailable",
    "RulesConfigError",
    "TableRuleState",
    "alert_fingerprint",
    "format_duration",
    "load_default_rules",
    "load_rules",
    "parse_duration",
    "parse_rules",
]
