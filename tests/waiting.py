"""Wait for a condition, never for a fixed time: the machine's speed decides how long a wait takes."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until[T](
    predicate: Callable[[], T | None], timeout: float = 10, interval: float = 0.05, message: str = ""
) -> T:
    """Poll ``predicate`` until it returns something true, and return that; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"condition not met within {timeout}s {message}".strip())
        time.sleep(interval)
