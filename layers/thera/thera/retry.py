"""Full-jitter exponential backoff: the wait before retry number ``attempt + 1`` of a call to an outside service."""

from __future__ import annotations

import random
from collections.abc import Callable


def full_jitter(attempt: int, base: float, cap: float, draw: Callable[[], float] = random.random) -> float:
    """Uniform in [0, min(cap, base * 2**attempt)): spreads retries of many callers instead of synchronising them."""
    return draw() * min(cap, base * 2.0 ** min(attempt, 32))
