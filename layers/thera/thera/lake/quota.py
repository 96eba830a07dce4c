"""Multi-window token bucket: pure arithmetic, no I/O.

Each window (minute, hour, day) holds ``limit`` tokens and is refilled to full at
its boundary (UTC-aligned fixed windows, the way provider quotas such as Apollo's
reset). A take succeeds only if every window has the tokens, and then spends from
all of them at once. The state carries a version so that a ``VersionedStore`` can
apply a planned take as one compare-and-set: the atomic step that keeps concurrent
takers from overspending.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from thera.kernel.ports import UNKNOWN, Unknown, Versioned, VersionedStore, cas_update


@dataclass(frozen=True)
class Window:
    name: str
    seconds: int
    limit: int


def default_windows(per_minute: int = 50, per_hour: int = 200, per_day: int = 600) -> tuple[Window, ...]:
    return (Window("minute", 60, per_minute), Window("hour", 3600, per_hour), Window("day", 86400, per_day))


@dataclass(frozen=True)
class WindowUsage:
    start: int
    used: int


@dataclass(frozen=True)
class BucketState:
    version: int
    windows: dict[str, WindowUsage] = field(default_factory=dict)


@dataclass(frozen=True)
class TakeDecision:
    allowed: bool
    state: BucketState
    retry_after: float
    exhausted: tuple[str, ...]
    remaining: dict[str, int]


def window_start(window: Window, now: float) -> int:
    return int(now // window.seconds) * window.seconds


def current_usage(state: BucketState | None, windows: tuple[Window, ...], now: float) -> dict[str, int]:
    """Tokens spent in each window as of ``now`` (a window that rolled over counts as empty)."""
    used: dict[str, int] = {}
    for w in windows:
        usage = state.windows.get(w.name) if state else None
        start = window_start(w, now)
        used[w.name] = usage.used if usage and usage.start == start else 0
    return used


def plan_take(state: BucketState | None, windows: tuple[Window, ...], now: float, n: int = 1) -> TakeDecision:
    """Decide whether ``n`` tokens can be taken at ``now`` and what the state becomes."""
    if n < 1:
        raise ValueError("a take must ask for at least one token")
    used = current_usage(state, windows, now)
    exhausted = tuple(w.name for w in windows if used[w.name] + n > w.limit)
    base_version = state.version if state else 0
    if exhausted:
        retry_after = max(window_start(w, now) + w.seconds - now for w in windows if w.name in exhausted)
        remaining = {w.name: max(0, w.limit - used[w.name]) for w in windows}
        return TakeDecision(False, state or BucketState(0), retry_after, exhausted, remaining)
    new_windows = {w.name: WindowUsage(window_start(w, now), used[w.name] + n) for w in windows}
    remaining = {w.name: w.limit - new_windows[w.name].used for w in windows}
    return TakeDecision(True, BucketState(base_version + 1, new_windows), 0.0, (), remaining)


def _to_doc(state: BucketState) -> dict[str, Any]:
    return {name: {"start": u.start, "used": u.used} for name, u in state.windows.items()}


def _from(stored: Versioned | None) -> BucketState | None:
    if stored is None:
        return None
    windows = {name: WindowUsage(int(w["start"]), int(w["used"])) for name, w in stored.doc.items()}
    return BucketState(stored.version, windows)


class TokenBucket:
    """Takes tokens from a shared multi-window bucket kept in a ``VersionedStore``."""

    def __init__(
        self,
        store: VersionedStore,
        bucket: str,
        windows: tuple[Window, ...],
        clock: Callable[[], float] = time.time,
        max_attempts: int = 50,
    ) -> None:
        self._store = store
        self._bucket = bucket
        self._windows = windows
        self._clock = clock
        self._max_attempts = max_attempts
        self._known: Versioned | Unknown | None = UNKNOWN

    @property
    def windows(self) -> tuple[Window, ...]:
        return self._windows

    def take(self, n: int = 1) -> TakeDecision:
        """Take ``n`` tokens from every window, or say how long until they exist.

        A refusal planned from a cached state is final: others only ever add usage.
        """

        def plan(current: Versioned | None) -> tuple[dict[str, Any] | None, TakeDecision]:
            decision = plan_take(_from(current), self._windows, self._clock(), n)
            return (_to_doc(decision.state) if decision.allowed else None), decision

        expires_at = int(self._clock()) + 2 * max(w.seconds for w in self._windows)
        decision, self._known = cas_update(
            self._store, self._bucket, plan, known=self._known, expires_at=expires_at, max_attempts=self._max_attempts
        )
        return decision

    def usage(self) -> dict[str, tuple[int, int]]:
        """(used, limit) per window as of now, read from the store."""
        state = _from(self._store.load(self._bucket))
        used = current_usage(state, self._windows, self._clock())
        return {w.name: (used[w.name], w.limit) for w in self._windows}
