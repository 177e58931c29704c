"""Waiting on a running worker: poll a condition until it holds, the worker dies, or a bound passes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def until(check: Callable[[], Any], timeout: float, alive: Callable[[], bool], interval: float = 0.3) -> Any:
    """`check()`'s first truthy result, polled while `alive()`; the timeout only keeps a broken run from hanging
    the suite. Returns the last `check()` either way, so the caller asserts on it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if result := check():
            return result
        time.sleep(interval)
    return check()
