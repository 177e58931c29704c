"""Alert users -> WeCom member ids."""

from __future__ import annotations

from pipeline.sinks.wecom_app import UserMapper


def test_user_mapping_rules() -> None:
    m = UserMapper({"Boss@Corp.com": "zhangsan", "ghost@corp.com": ""}, rule="local_part")
    assert m("boss@corp.com") == "zhangsan"
    assert m("Alice.Wang@corp.com") == "alice.wang"
    assert m("ghost@corp.com") is None
    assert m("@all") == "@all"
    assert UserMapper({}, rule="map_only")("alice@corp.com") is None
    assert UserMapper({}, rule="same", lowercase=False)("Alice@corp.com") == "Alice@corp.com"
    assert m.map_all(["a@x", "A@y", "ghost@corp.com"]) == (["a"], ["ghost@corp.com"])
