"""Policy by department: desired useroption settings per department (inherited down the tree), mail group and
user, over a company default; `pipeline policy plan|apply`; drift events name the rule (docs/policy.md)."""

from pipeline.policy.config import OPTION_LABELS, OPTION_NAMES, SETTABLE, OptionPolicy
from pipeline.policy.resolve import DEFAULT_RULE, Desired, PolicyResolver

__all__ = ["DEFAULT_RULE", "OPTION_LABELS", "OPTION_NAMES", "SETTABLE", "Desired", "OptionPolicy", "PolicyResolver"]
