"""Operation log: all 41 documented types, the restore remark, unknown types, actor/target placement."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize

# type -> (type_name, event.category, event.type, event.action, ocsf class, activity_id, target kind)
EXPECTED: dict[int, tuple[str, list[str], list[str], str, int, int, str | None]] = {
    1: ("login", ["authentication", "session"], ["start"], "admin-login", 3002, 1, None),
    2: ("change_password", ["iam"], ["user", "change"], "password-change", 3001, 3, "user"),
    3: ("add_domain", ["configuration"], ["creation"], "domain-add", 6003, 1, None),
    4: ("cancel_domain", ["configuration"], ["deletion"], "domain-remove", 6003, 4, None),
    5: ("set_logo", ["configuration"], ["change"], "logo-set", 6003, 3, None),
    6: ("delete_logo", ["configuration"], ["deletion"], "logo-delete", 6003, 4, None),
    7: ("change_security_mailbox", ["iam"], ["admin", "change"], "security-mailbox-change", 6003, 3, None),
    8: ("change_admin_mailbox", ["iam"], ["admin", "change"], "admin-mailbox-change", 6003, 3, None),
    9: ("publish_announcement", ["configuration"], ["creation"], "announcement-publish", 6003, 1, None),
    10: ("mass_mail", ["email"], ["info"], "mass-mail-send", 6003, 1, None),
    11: ("add_blacklist_entry", ["configuration"], ["creation"], "blacklist-add", 6003, 1, None),
    12: ("delete_blacklist_entry", ["configuration"], ["deletion"], "blacklist-delete", 6003, 4, None),
    13: ("clear_blacklist", ["configuration"], ["deletion"], "blacklist-clear", 6003, 4, None),
    14: ("add_whitelist_entry", ["configuration"], ["creation"], "whitelist-add", 6003, 1, None),
    15: ("delete_whitelist_entry", ["configuration"], ["deletion"], "whitelist-delete", 6003, 4, None),
    16: ("clear_whitelist", ["configuration"], ["deletion"], "whitelist-clear", 6003, 4, None),
    17: ("add_domain_whitelist_entry", ["configuration"], ["creation"], "domain-whitelist-add", 6003, 1, None),
    18: ("delete_domain_whitelist_entry", ["configuration"], ["deletion"], "domain-whitelist-delete", 6003, 4,
         None),
    19: ("add_user", ["iam"], ["user", "creation"], "user-create", 3001, 1, "user"),
    20: ("delete_user", ["iam"], ["user", "deletion"], "user-delete", 3001, 6, "user"),
    21: ("enable_user", ["iam"], ["user", "change"], "user-enable", 3001, 2, "user"),
    22: ("disable_user", ["iam"], ["user", "change"], "user-disable", 3001, 5, "user"),
    23: ("edit_user", ["iam"], ["user", "change"], "user-update", 3001, 99, "user"),
    24: ("edit_alias", ["iam"], ["user", "change"], "user-alias-update", 3001, 99, "user"),
    25: ("batch_import_users", ["iam"], ["user", "creation"], "users-import", 6003, 1, None),
    26: ("add_sub_admin", ["iam"], ["admin", "change"], "sub-admin-add", 3001, 7, "user"),
    27: ("delete_sub_admin", ["iam"], ["admin", "change"], "sub-admin-remove", 3001, 8, "user"),
    28: ("add_department", ["iam"], ["group", "creation"], "department-create", 6003, 1, "group"),
    29: ("delete_department", ["iam"], ["group", "deletion"], "department-delete", 6003, 4, "group"),
    30: ("edit_department", ["iam"], ["group", "change"], "department-update", 6003, 3, "group"),
    31: ("move_department", ["iam"], ["group", "change"], "department-move", 6003, 3, "group"),
    32: ("add_mail_group", ["iam"], ["group", "creation"], "mail-group-create", 6003, 1, "group"),
    33: ("delete_mail_group", ["iam"], ["group", "deletion"], "mail-group-delete", 6003, 4, "group"),
    34: ("edit_mail_group", ["iam"], ["group", "change"], "mail-group-update", 6003, 3, "group"),
    35: ("set_mail_backup", ["configuration"], ["change"], "mail-backup-set", 6003, 3, None),
    36: ("mail_transfer", ["configuration"], ["change"], "mail-transfer", 6003, 3, None),
    37: ("ip_login_restriction", ["configuration"], ["change"], "ip-login-restriction-set", 6003, 3, None),
    38: ("restrict_outbound_mail", ["configuration"], ["change"], "outbound-mail-restriction-set", 6003, 3, None),
    39: ("enable_api", ["configuration"], ["change"], "api-enable", 6003, 3, None),
    40: ("refetch_api_key", ["configuration"], ["change"], "api-key-regenerate", 6003, 3, None),
    41: ("disable_api", ["configuration"], ["change"], "api-disable", 6003, 3, None),
}


def test_table_covers_every_documented_type() -> None:
    assert sorted(EXPECTED) == list(range(1, 42))


@pytest.mark.parametrize("op_type", sorted(EXPECTED))
def test_operation_type(samples: Any, op_type: int) -> None:
    operand = "sales@example.com" if EXPECTED[op_type][6] == "group" else "carol@example.com"
    event = normalize(samples.operation_log(type=op_type, operand=operand))
    doc = event.data
    name, category, types, action, ocsf_class, activity_id, target = EXPECTED[op_type]
    assert doc["exmail"]["operation"]["type"] == op_type
    assert doc["exmail"]["operation"]["type_name"] == name
    assert doc["exmail"]["operation"]["operand"] == operand
    assert (doc["event"]["category"], doc["event"]["type"], doc["event"]["action"]) == (category, types, action)
    assert doc["event"]["outcome"] == "success"
    assert doc["event"]["code"] == str(op_type)
    assert doc["user"]["id"] == "admin@example.com"
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"]) == (ocsf_class, activity_id)
    assert ocsf["type_uid"] == ocsf_class * 100 + activity_id
    assert ocsf["status_id"] == 1
    if target == "user":
        assert doc["user"]["target"]["email"] == operand
        assert doc["related"]["user"] == ["admin@example.com", operand]
    else:
        assert "target" not in doc["user"]
    if target == "group":
        assert doc["group"] == {"name": operand}
    if ocsf_class == 3001:
        assert ocsf["user"]["uid"] == operand
        assert ocsf["actor"]["user"]["uid"] == "admin@example.com"
    elif ocsf_class == 6003:
        assert ocsf["actor"]["user"]["uid"] == "admin@example.com"
        assert ocsf["api"]["operation"] == action
        assert ocsf["resources"][0]["name"] == operand
    else:
        assert ocsf["user"]["uid"] == "admin@example.com"
    if activity_id == 99:
        assert ocsf["activity_name"] == "Update"
    assert validate("exmail.event/1", event.to_dict()) == []


@pytest.mark.parametrize("remark", [1, "1"])
def test_delete_user_with_remark_1_is_a_restore(samples: Any, remark: Any) -> None:
    event = normalize(samples.operation_log(type=20, remark=remark))
    doc = event.data
    assert doc["event"]["action"] == "user-restore"
    assert doc["exmail"]["operation"]["type"] == 20
    assert doc["exmail"]["operation"]["remark"] == remark
    assert (doc["ocsf"]["class_uid"], doc["ocsf"]["activity_id"], doc["ocsf"]["activity_name"]) == (3001, 99,
                                                                                                    "Restore")
    assert validate("exmail.event/1", event.to_dict()) == []


def test_delete_user_with_other_remark_stays_a_delete(samples: Any) -> None:
    assert normalize(samples.operation_log(type=20, remark="0")).data["event"]["action"] == "user-delete"


@pytest.mark.parametrize("op_type", [0, 42, 999])
def test_unknown_operation_type_is_kept_with_unknown_outcome(samples: Any, op_type: int) -> None:
    event = normalize(samples.operation_log(type=op_type))
    doc = event.data
    assert doc["exmail"]["operation"]["type"] == op_type
    assert doc["exmail"]["operation"]["type_name"] == "unknown"
    assert doc["event"]["outcome"] == "unknown"
    assert doc["event"]["action"] == "operation-unknown"
    assert (doc["ocsf"]["class_uid"], doc["ocsf"]["activity_id"], doc["ocsf"]["status_id"]) == (6003, 0, 0)
    assert validate("exmail.event/1", event.to_dict()) == []


@pytest.mark.parametrize("operand", ["", None])
def test_user_operation_without_operand_targets_the_operator_in_ocsf(samples: Any, operand: Any) -> None:
    event = normalize(samples.operation_log(type=2, operand=operand))
    assert "target" not in event.data["user"]
    assert event.data["ocsf"]["user"]["uid"] == "admin@example.com"
    assert validate("exmail.event/1", event.to_dict()) == []


def test_non_address_operand(samples: Any) -> None:
    event = normalize(samples.operation_log(type=19, operand="carol"))
    assert event.data["user"]["target"] == {"id": "carol", "name": "carol"}
    assert validate("exmail.event/1", event.to_dict()) == []
