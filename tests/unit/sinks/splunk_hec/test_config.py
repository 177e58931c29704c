"""Splunk HEC config: the token is a secret reference, never inline."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pipeline.sinks.splunk_hec import SplunkHecSinkConfig


def test_an_inline_token_is_refused() -> None:
    with pytest.raises(ValidationError, match="secret reference"):
        SplunkHecSinkConfig(url="https://splunk:8088", token="00000000-1111-2222-3333-444444444444")
