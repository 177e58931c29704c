"""DirectoryCopy: normalize's copy of the user directory follows the state records."""

from __future__ import annotations

import orjson

from pipeline.transforms.normalize.directory_copy import DirectoryCopy

CORP = "wm0123456789abcdef"


def test_directory_copy_follows_state_records() -> None:
    copy = DirectoryCopy()
    key = f"{CORP}/user/Bob@Example.com".encode()
    copy.apply(key, orjson.dumps({"name": "Bob", "department_ids": [1, 2], "department_paths": ["a", "a/b"]}))
    copy.apply(f"{CORP}/department/1".encode(), orjson.dumps({"name": "Sales"}))
    copy.apply(f"{CORP}/user/carol@example.com".encode(), b"not json")
    assert copy.user(CORP, "bob@example.com") == {"name": "Bob", "department_ids": [1, 2],
                                                  "department_paths": ["a", "a/b"], "enable": None}
    assert copy.user(CORP, "carol@example.com") is None
    copy.apply(key, None)
    assert copy.user(CORP, "bob@example.com") is None
