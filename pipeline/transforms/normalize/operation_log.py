"""exmail.raw.operation_log -> ECS iam / configuration / authentication + OCSF 3001 Account Change where an
account-change activity matches exactly, 3002 Logon for the admin's console login, 6003 API Activity for
everything else.

`user.*` is the operator (the administrator, the actor); `user.target.*` the account the operation touched
(operand) for user operations, `group.name` the department or mail group for group operations. Types the
API documentation does not list map to "unknown" with event.outcome "unknown" and keep their number.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pipeline.envelope import Envelope
from pipeline.transforms.normalize._common import (
    ACCOUNT_CHANGE,
    ADMIN_CONSOLE,
    API_ACTIVITY,
    AUTHENTICATION,
    build_event,
    ecs_user,
    ocsf_user,
    opt_int_or_str,
    opt_str,
    related,
    req_date,
    req_int,
    req_obj,
    req_str,
)

DATASET = "exmail.operation_log"
PROVIDER = "log/operation"

_IAM, _CONF, _AUTH, _EMAIL = ["iam"], ["configuration"], ["authentication", "session"], ["email"]


class OperationType(NamedTuple):
    name: str
    description: str
    action: str
    category: list[str]
    types: list[str]
    ocsf_class: int
    activity_id: int
    activity_name: str | None
    resource: str
    target: str | None  # "user": operand is an account; "group": a department or mail group
    severity_id: int


def _op(name: str, description: str, action: str, category: list[str], types: list[str], ocsf_class: int,
        activity_id: int, resource: str, *, target: str | None = None, severity_id: int = 1,
        activity_name: str | None = None) -> OperationType:
    return OperationType(name, description, action, category, types, ocsf_class, activity_id, activity_name,
                         resource, target, severity_id)


_AC, _API = ACCOUNT_CHANGE, API_ACTIVITY

OPERATION_TYPES: dict[int, OperationType] = {
    1: _op("login", "administrator login", "admin-login", _AUTH, ["start"], AUTHENTICATION, 1, "admin_console"),
    2: _op("change_password", "change password", "password-change", _IAM, ["user", "change"], _AC, 3, "account",
           target="user", severity_id=2),
    3: _op("add_domain", "add domain", "domain-add", _CONF, ["creation"], _API, 1, "domain", severity_id=2),
    4: _op("cancel_domain", "cancel domain", "domain-remove", _CONF, ["deletion"], _API, 4, "domain",
           severity_id=3),
    5: _op("set_logo", "set logo", "logo-set", _CONF, ["change"], _API, 3, "logo"),
    6: _op("delete_logo", "delete logo", "logo-delete", _CONF, ["deletion"], _API, 4, "logo"),
    7: _op("change_security_mailbox", "change security (recovery) mailbox", "security-mailbox-change", _IAM,
           ["admin", "change"], _API, 3, "security_mailbox", severity_id=3),
    8: _op("change_admin_mailbox", "change admin mailbox", "admin-mailbox-change", _IAM, ["admin", "change"], _API,
           3, "admin_mailbox", severity_id=3),
    9: _op("publish_announcement", "publish announcement", "announcement-publish", _CONF, ["creation"], _API, 1,
           "announcement"),
    10: _op("mass_mail", "mass mail", "mass-mail-send", _EMAIL, ["info"], _API, 1, "mass_mail"),
    11: _op("add_blacklist_entry", "add blacklist entry", "blacklist-add", _CONF, ["creation"], _API, 1,
            "blacklist_entry"),
    12: _op("delete_blacklist_entry", "delete blacklist entry", "blacklist-delete", _CONF, ["deletion"], _API, 4,
            "blacklist_entry"),
    13: _op("clear_blacklist", "clear blacklist", "blacklist-clear", _CONF, ["deletion"], _API, 4, "blacklist",
            severity_id=2),
    14: _op("add_whitelist_entry", "add whitelist entry", "whitelist-add", _CONF, ["creation"], _API, 1,
            "whitelist_entry"),
    15: _op("delete_whitelist_entry", "delete whitelist entry", "whitelist-delete", _CONF, ["deletion"], _API, 4,
            "whitelist_entry"),
    16: _op("clear_whitelist", "clear whitelist", "whitelist-clear", _CONF, ["deletion"], _API, 4, "whitelist"),
    17: _op("add_domain_whitelist_entry", "add domain whitelist entry", "domain-whitelist-add", _CONF,
            ["creation"], _API, 1, "domain_whitelist_entry"),
    18: _op("delete_domain_whitelist_entry", "delete domain whitelist entry", "domain-whitelist-delete", _CONF,
            ["deletion"], _API, 4, "domain_whitelist_entry"),
    19: _op("add_user", "add user", "user-create", _IAM, ["user", "creation"], _AC, 1, "account", target="user"),
    20: _op("delete_user", "delete user", "user-delete", _IAM, ["user", "deletion"], _AC, 6, "account",
            target="user", severity_id=3),
    21: _op("enable_user", "enable user", "user-enable", _IAM, ["user", "change"], _AC, 2, "account",
            target="user"),
    22: _op("disable_user", "disable user", "user-disable", _IAM, ["user", "change"], _AC, 5, "account",
            target="user", severity_id=2),
    23: _op("edit_user", "edit user", "user-update", _IAM, ["user", "change"], _AC, 99, "account", target="user",
            activity_name="Update"),
    24: _op("edit_alias", "edit alias", "user-alias-update", _IAM, ["user", "change"], _AC, 99, "account",
            target="user", activity_name="Update"),
    25: _op("batch_import_users", "batch-import users", "users-import", _IAM, ["user", "creation"], _API, 1,
            "users_import"),
    26: _op("add_sub_admin", "add sub-administrator", "sub-admin-add", _IAM, ["admin", "change"], _AC, 7,
            "account", target="user", severity_id=3),
    27: _op("delete_sub_admin", "delete sub-administrator", "sub-admin-remove", _IAM, ["admin", "change"], _AC, 8,
            "account", target="user", severity_id=3),
    28: _op("add_department", "add department", "department-create", _IAM, ["group", "creation"], _API, 1,
            "department", target="group"),
    29: _op("delete_department", "delete department", "department-delete", _IAM, ["group", "deletion"], _API, 4,
            "department", target="group"),
    30: _op("edit_department", "edit department", "department-update", _IAM, ["group", "change"], _API, 3,
            "department", target="group"),
    31: _op("move_department", "move department", "department-move", _IAM, ["group", "change"], _API, 3,
            "department", target="group"),
    32: _op("add_mail_group", "add mail group", "mail-group-create", _IAM, ["group", "creation"], _API, 1,
            "mail_group", target="group"),
    33: _op("delete_mail_group", "delete mail group", "mail-group-delete", _IAM, ["group", "deletion"], _API, 4,
            "mail_group", target="group"),
    34: _op("edit_mail_group", "edit mail group", "mail-group-update", _IAM, ["group", "change"], _API, 3,
            "mail_group", target="group"),
    35: _op("set_mail_backup", "set mail backup", "mail-backup-set", _CONF, ["change"], _API, 3, "mail_backup"),
    36: _op("mail_transfer", "mail transfer", "mail-transfer", _CONF, ["change"], _API, 3, "mail_transfer"),
    37: _op("ip_login_restriction", "IP login restriction", "ip-login-restriction-set", _CONF, ["change"], _API, 3,
            "ip_login_restriction", severity_id=3),
    38: _op("restrict_outbound_mail", "restrict members' outbound mail", "outbound-mail-restriction-set", _CONF,
            ["change"], _API, 3, "outbound_mail_restriction", severity_id=2),
    39: _op("enable_api", "enable API", "api-enable", _CONF, ["change"], _API, 3, "api", severity_id=3),
    40: _op("refetch_api_key", "re-fetch API key", "api-key-regenerate", _CONF, ["change"], _API, 3, "api_key",
            severity_id=3),
    41: _op("disable_api", "disable API", "api-disable", _CONF, ["change"], _API, 3, "api", severity_id=3),
}
UNKNOWN_OPERATION = _op("unknown", "operation type not in the API documentation", "operation-unknown", _CONF,
                        ["info"], _API, 0, "unknown")
# Type 20 with remark 1: the deleted account was restored.
RESTORE_USER = _op("restore_user", "restore deleted user", "user-restore", _IAM, ["user", "change"], _AC, 99,
                   "account", target="user", severity_id=2, activity_name="Restore")


def to_event(raw: Envelope) -> dict[str, Any]:
    record = req_obj(raw.data, "record", "data")
    context = req_obj(raw.data, "context", "data")
    req_date(context, "date", "data.context")
    time = req_int(record, "time", "data.record", minimum=0)
    operator = req_str(record, "operator", "data.record", nonempty=True)
    op_type = req_int(record, "type", "data.record")
    operand = opt_str(record, "operand", "data.record")
    remark = opt_int_or_str(record, "remark", "data.record", "a string, integer or null")

    op = OPERATION_TYPES.get(op_type, UNKNOWN_OPERATION)
    if op_type == 20 and remark in (1, "1"):
        op = RESTORE_USER
    known = op is not UNKNOWN_OPERATION

    user = ecs_user(operator)
    group: dict[str, Any] | None = None
    target_id: str | None = None
    if op.target == "user" and operand:
        target_id = operand
        user["target"] = ecs_user(operand)
    elif op.target == "group" and operand:
        group = {"name": operand}

    actor = {"user": ocsf_user(operator)}
    ocsf: dict[str, Any]
    if op.ocsf_class == AUTHENTICATION:
        ocsf = {"user": ocsf_user(operator), "logon_type_id": 3, "logon_type": "Network", "is_remote": True,
                "service": {"name": ADMIN_CONSOLE}}
    elif op.ocsf_class == ACCOUNT_CHANGE:
        ocsf = {"user": ocsf_user(target_id or operator), "actor": actor}
    else:
        resource: dict[str, Any] = {"type": op.resource}
        if operand:
            resource["name"] = operand
        ocsf = {"actor": actor, "api": {"operation": op.action, "service": {"name": ADMIN_CONSOLE}},
                "src_endpoint": {"svc_name": ADMIN_CONSOLE}, "resources": [resource]}

    about = f" {operand}" if operand else ""
    return build_event(
        raw,
        dataset=DATASET,
        provider=PROVIDER,
        category=op.category,
        types=op.types,
        action=op.action,
        outcome="success" if known else "unknown",
        message=f"{operator}: {op.description}{about}" if known else f"{operator}: operation type {op_type}{about}",
        ocsf_class=op.ocsf_class,
        activity_id=op.activity_id,
        activity_name=op.activity_name,
        status_id=1 if known else 0,
        severity_id=op.severity_id,
        event_fields={"code": str(op_type)},
        exmail={
            "operation": {**record, "type": op_type, "type_name": op.name, "time": time},
            "log": dict(context),
        },
        ecs={
            "user": user,
            "group": group,
            "related": related(users=(operator, target_id)),
        },
        ocsf=ocsf,
    )
