"""Full-jitter exponential backoff: the wait before retry number ``attempt + 1`` of a call to an outside service."""

from __future__ import annotations

import math
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


# The longest visibility SQS accepts (ChangeMessageVisibility: 0 to 43,200 seconds).
MAX_VISIBILITY_SECONDS = 43_200


def redelivery_delay(receive_count: int, base: float, cap: float, draw: Callable[[], float] = random.random) -> int:
    """Whole seconds a queued message that failed on its ``receive_count``-th receive stays hidden before it is
    tried again: uniform in [3/4, 1] of ``min(cap, base * 2**(n-1))``.

    The first failure is retried within ``base`` seconds; each later one waits longer than the one before,
    whatever the draws (a range starts above the previous one's end), until ``cap``, the queue's visibility
    timeout, the longest wait. The jitter spreads the retries of messages that failed together.
    """
    if receive_count < 1:
        raise ValueError(f"receive_count starts at 1, not {receive_count!r}")
    if base <= 0 or cap <= 0:
        raise ValueError("redelivery delays must be positive")
    cap = min(cap, MAX_VISIBILITY_SECONDS)
    bound = base * 2.0 ** min(receive_count - 1, 32)
    high, low = min(cap, bound), min(cap, 0.75 * bound)
    return math.ceil(low + draw() * (high - low))
