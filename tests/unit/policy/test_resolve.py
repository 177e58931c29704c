"""Policy resolution: precedence user > group > department (deepest first) > default, inheritance down the
tree, group membership through departments and nested groups; config validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.policy import OptionPolicy, PolicyResolver
from pipeline.sources.config import CorpConfig

DEPTS = {1: {"id": 1, "name": "公司", "parentid": 0}, 10: {"id": 10, "name": "研发", "parentid": 1},
         11: {"id": 11, "name": "运维", "parentid": 10}, 12: {"id": 12, "name": "前端", "parentid": 10},
         20: {"id": 20, "name": "销售", "parentid": 1}}
GROUPS = {"ops@x.com": {"groupid": "ops@x.com", "userlist": ["a@x.com"], "department": [], "grouplist": []},
          "outer@x.com": {"groupid": "outer@x.com", "userlist": [], "department": [], "grouplist": ["inner@x.com"]},
          "inner@x.com": {"groupid": "inner@x.com", "userlist": [], "department": [20], "grouplist": []}}


def resolver(**policy: object) -> PolicyResolver:
    return PolicyResolver(OptionPolicy.model_validate(policy), {1: "1"}, DEPTS, GROUPS)


def summary(r: PolicyResolver, userid: str, depts: list[int]) -> dict[int, tuple[str, str]]:
    return {t: (d.value, d.rule) for t, d in r.desired(userid, depts).items()}


def test_departments_inherit_and_deeper_wins() -> None:
    r = resolver(departments={"研发": {"imap_smtp": "0", "pop_smtp": "0"}, "研发/运维": {"imap_smtp": "1"}})
    assert summary(r, "b@x.com", [11]) == {1: ("1", "default"), 2: ("1", "department:研发/运维"),
                                          3: ("0", "department:研发")}
    assert summary(r, "c@x.com", [12]) == {1: ("1", "default"), 2: ("0", "department:研发"),
                                          3: ("0", "department:研发")}
    assert summary(r, "d@x.com", [20]) == {1: ("1", "default")}
    assert r.in_department([11], "研发") and not r.in_department([20], "研发")


def test_precedence_user_over_group_over_department() -> None:
    r = resolver(departments={"研发": {2: "0"}}, groups={"ops@x.com": {2: "1", 3: "0"}},
                 users={"A@x.com": {3: True}})
    assert summary(r, "a@x.com", [11]) == {1: ("1", "default"), 2: ("1", "group:ops@x.com"),
                                          3: ("1", "user:a@x.com")}


def test_group_members_through_departments_and_nesting_first_group_wins() -> None:
    r = resolver(groups={"outer@x.com": {"pop_smtp": "0"}, "inner@x.com": {"pop_smtp": "1"}})
    assert summary(r, "s@x.com", [20])[3] == ("0", "group:outer@x.com")
    assert 3 not in summary(r, "t@x.com", [11])


def test_policy_default_replaces_desired_options() -> None:
    r = PolicyResolver(OptionPolicy(default={1: "0"}), {1: "1", 3: "0"}, DEPTS, GROUPS)
    assert summary(r, "a@x.com", [10]) == {1: ("0", "default")}


@pytest.mark.parametrize(("policy", "message"), [
    ({"default": {4: "1"}}, "read-only"),
    ({"departments": {"研发": {"smtp": "1"}}}, "unknown option"),
    ({"users": {"a@x.com": {1: "yes"}}}, "must be '0' or '1'"),
])
def test_invalid_policies_are_refused(policy: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OptionPolicy.model_validate(policy)


def test_company_default_given_once() -> None:
    with pytest.raises(ValidationError, match="give the company default once"):
        CorpConfig.model_validate({"name": "a", "corp_id": "wm1", "desired_options": {1: "1"},
                                   "policy": {"default": {1: "1"}}})
