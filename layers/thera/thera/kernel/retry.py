"""Full-jitter exponential backoff: the wait before retry number ``attempt + 1`` of a call to an outside service."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass


def full_jitter(attempt: int, base: float, cap: float, draw: Callable[[], float] = random.random) -> float:
    """Uniform in [0, min(cap, base * 2**attempt)): spreads retries of many callers instead of synchronising them."""
    return draw() * min(cap, base * 2.0 ** min(attempt, 32))


@dataclass(frozen=True)
class Backoff:
    """How a client retries a provider: at most ``attempts`` calls, and before call ``n + 1`` a
    full-jitter wait of at most ``min(cap, base * 2**n)`` seconds."""

    attempts: int
    base: float
    cap: float

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {self.attempts!r}")
        if self.base < 0 or self.cap < 0:
            raise ValueError("backoff delays must not be negative")

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        return full_jitter(attempt, self.base, self.cap, draw)
