"""The HTTP client's tests run on both event loops: the delivery workers run on uvloop, whose transports differ
from asyncio's in detail (write errors, EOF, TLS)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

import pytest
import uvloop

BOTH_LOOPS: Mapping[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
ASYNCIO_ONLY: Mapping[str, Callable[[], asyncio.AbstractEventLoop]] = {"asyncio": asyncio.new_event_loop}


def pytest_asyncio_loop_factories(config: pytest.Config,
                                  item: pytest.Item) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    return BOTH_LOOPS if item.path.name in ("test_h1.py", "test_http.py") else ASYNCIO_ONLY
