"""A circuit breaker shared by every concurrent consumer, its state in a ``VersionedStore``.

closed --(failure_threshold failures in a row)--> open --(cooldown)--> half-open
half-open: exactly one probe at a time, elected by a compare-and-set; a probe that
fails reopens the breaker (a new cooldown), ``success_threshold`` successful probes
in a row close it. A probe that never reports (its consumer died) is replaced once
``probe_timeout`` has passed. The transitions are pure functions of the stored
document; every change is one compare-and-set, so concurrent consumers agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from thera.kernel.ports import UNKNOWN, Unknown, Versioned, VersionedStore, cas_update

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
MAX_TRANSITIONS = 50


@dataclass(frozen=True)
class BreakerConfig:
    failure_threshold: int = 5
    cooldown_seconds: float = 60.0
    success_threshold: int = 2
    probe_timeout_seconds: float = 180.0


@dataclass(frozen=True)
class Permit:
    allowed: bool
    probe: bool = False
    retry_after: float = 0.0
    state: str = CLOSED


def _doc(current: Versioned | None) -> dict[str, Any]:
    if current is None:
        return {"state": CLOSED, "failures": 0, "successes": 0, "opened_at": 0.0, "probe": None, "transitions": []}
    return dict(current.doc)


def open_since(doc: dict[str, Any]) -> float | None:
    """When the breaker last left closed (it has not closed since), or None while it is closed.

    Half-open probes that fail reopen it without resetting this: the outage is one stretch."""
    if doc.get("state", CLOSED) == CLOSED:
        return None
    since = None
    for at, before, _ in doc.get("transitions", []):
        if before == CLOSED:
            since = float(at)
    return since if since is not None else float(doc.get("opened_at", 0.0))


def _move(doc: dict[str, Any], to: str, now: float) -> dict[str, Any]:
    out = dict(doc)
    out["transitions"] = [*doc.get("transitions", []), [round(now, 3), doc["state"], to]][-MAX_TRANSITIONS:]
    out["state"] = to
    return out


def plan_allow(
    current: Versioned | None, cfg: BreakerConfig, now: float, owner: str
) -> tuple[dict[str, Any] | None, Permit]:
    doc = _doc(current)
    state = doc["state"]
    if state == CLOSED:
        return None, Permit(True, state=CLOSED)
    reopen_at = float(doc["opened_at"]) + cfg.cooldown_seconds
    if state == OPEN and now < reopen_at:
        return None, Permit(False, retry_after=reopen_at - now, state=OPEN)
    probe = doc.get("probe")
    if state == HALF_OPEN and probe and now < float(probe["until"]):
        return None, Permit(False, retry_after=min(cfg.cooldown_seconds, float(probe["until"]) - now), state=HALF_OPEN)
    new = _move(doc, HALF_OPEN, now) if state == OPEN else dict(doc)
    new["probe"] = {"owner": owner, "until": now + cfg.probe_timeout_seconds}
    return new, Permit(True, probe=True, state=HALF_OPEN)


def plan_success(
    current: Versioned | None, cfg: BreakerConfig, now: float, owner: str
) -> tuple[dict[str, Any] | None, str]:
    doc = _doc(current)
    if doc["state"] == CLOSED:
        if doc["failures"] == 0:
            return None, CLOSED
        return {**doc, "failures": 0}, CLOSED
    probe = doc.get("probe")
    if doc["state"] != HALF_OPEN or not probe or probe["owner"] != owner:
        return None, doc["state"]  # a late answer from before the breaker opened: not a probe result
    successes = int(doc["successes"]) + 1
    if successes >= cfg.success_threshold:
        return {**_move(doc, CLOSED, now), "failures": 0, "successes": 0, "probe": None}, CLOSED
    return {**doc, "successes": successes, "probe": None}, HALF_OPEN


def plan_failure(
    current: Versioned | None, cfg: BreakerConfig, now: float, owner: str
) -> tuple[dict[str, Any] | None, str]:
    doc = _doc(current)
    if doc["state"] == CLOSED:
        failures = int(doc["failures"]) + 1
        if failures >= cfg.failure_threshold:
            return {**_move(doc, OPEN, now), "failures": failures, "opened_at": now, "probe": None}, OPEN
        return {**doc, "failures": failures}, CLOSED
    probe = doc.get("probe")
    if doc["state"] == HALF_OPEN and probe and probe["owner"] == owner:
        return {**_move(doc, OPEN, now), "opened_at": now, "successes": 0, "probe": None}, OPEN
    return None, doc["state"]


class CircuitBreaker:
    def __init__(
        self,
        store: VersionedStore,
        name: str,
        config: BreakerConfig,
        owner: str,
        clock: Callable[[], float] = time.time,
        on_transition: Callable[[str, str], None] | None = None,
    ) -> None:
        self._store, self.name, self.config = store, name, config
        self._owner, self._clock, self._on_transition = owner, clock, on_transition
        self._known: Versioned | Unknown | None = UNKNOWN  # the state last seen: saves a read on the next change

    def _apply(
        self, plan: Callable[[Versioned | None, BreakerConfig, float, str], tuple[dict[str, Any] | None, Any]]
    ) -> Any:
        before: list[str] = []

        def step(current: Versioned | None) -> tuple[dict[str, Any] | None, Any]:
            before[:] = [_doc(current)["state"]]
            return plan(current, self.config, self._clock(), self._owner)

        result, stored = cas_update(self._store, self.name, step, known=self._known)
        self._known = stored
        after = _doc(stored)["state"]
        if self._on_transition and before and before[0] != after:
            self._on_transition(before[0], after)
        return result

    def allow(self) -> Permit:
        """Whether a call may go out now. Always reads the stored state: other consumers move it."""
        self._known = UNKNOWN
        permit: Permit = self._apply(plan_allow)
        return permit

    def record_success(self) -> str:
        state: str = self._apply(plan_success)
        return state

    def record_failure(self) -> str:
        state: str = self._apply(plan_failure)
        return state

    def state(self) -> dict[str, Any]:
        return _doc(self._store.load(self.name))

    def open_for(self) -> float | None:
        """Seconds the breaker has been out of closed, from the state last seen (no read), or None if closed."""
        known = self._known if self._known is not UNKNOWN else self._store.load(self.name)
        since = open_since(_doc(known))
        return None if since is None else round(self._clock() - since, 1)
