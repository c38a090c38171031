"""Polling for a condition on the cluster, with a message that says what was awaited."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

POLL_INTERVAL_SECONDS = 0.05
DEFAULT_TIMEOUT_SECONDS = 30.0


def wait_until(condition: Callable[[], T | None], what: str, timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS) -> T:
    """Call ``condition`` until it returns something truthy, and return that; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout_seconds:.0f}s: {what}")
        time.sleep(POLL_INTERVAL_SECONDS)
