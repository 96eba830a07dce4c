"""A lease: at most one holder of a named job at a time, across execution environments.

The Apollo pull walks its pages with one cursor and the index builder is the one writer of
``index/current.json``; a second run at the same time would walk the same pages twice or let
an older index overwrite a newer pointer. Reserved concurrency 1 would forbid the second run,
but it fails to deploy on accounts with a small concurrency quota, so the jobs take a lease
instead: one compare-and-set on a shared document (a DynamoDB item in AWS).

A run takes the lease for the time it may still run (its remaining time plus a margin for
clocks), so a holder that crashes or times out frees the job when its lease expires, without
anyone releasing it. A run that finds the lease held leaves without doing the work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from thera.kernel.ports import Versioned, VersionedStore, cas_update

# Added to a holder's remaining time: clocks of two execution environments may disagree a little.
CLOCK_MARGIN_SECONDS = 5.0
# How long the lease document stays after it expires (DynamoDB TTL): long enough to read who held it last.
KEEP_EXPIRED_SECONDS = 86_400


@dataclass(frozen=True)
class Grant:
    """The answer to a request for the lease: taken, or who holds it and until when (epoch seconds)."""

    job: str
    acquired: bool
    holder: str
    until: float

    def as_dict(self) -> dict[str, Any]:
        return {"job": self.job, "acquired": self.acquired, "holder": self.holder, "until": round(self.until, 3)}


def lease_key(job: str) -> str:
    return f"lease#{job}"


def plan_acquire(
    current: Versioned | None, job: str, holder: str, now: float, until: float
) -> tuple[dict[str, Any] | None, Grant]:
    """Take the lease unless another holder's lease is still running (a holder may take its own again:
    Lambda retries an asynchronous invocation with the same request id)."""
    doc = current.doc if current else {}
    held_by, held_until = str(doc.get("holder") or ""), float(doc.get("until") or 0.0)
    if held_by and held_by != holder and held_until > now:
        return None, Grant(job, False, held_by, held_until)
    return {"holder": holder, "until": until, "taken_at": now}, Grant(job, True, holder, until)


def plan_release(current: Versioned | None, holder: str, now: float) -> tuple[dict[str, Any] | None, bool]:
    """Free the lease if this holder still has it; a lease taken over after it expired is left alone."""
    doc = current.doc if current else {}
    if doc.get("holder") != holder:
        return None, False
    return {"holder": "", "until": 0.0, "released_by": holder, "released_at": now}, True


class Lease:
    def __init__(self, store: VersionedStore, job: str, clock: Callable[[], float]) -> None:
        self._store = store
        self.job = job
        self._clock = clock

    def acquire(self, holder: str, seconds: float) -> Grant:
        """Hold the job for ``seconds`` (the caller's remaining time) plus the clock margin."""
        now = self._clock()
        until = now + max(seconds, 0.0) + CLOCK_MARGIN_SECONDS
        grant, _ = cas_update(
            self._store,
            lease_key(self.job),
            lambda current: plan_acquire(current, self.job, holder, now, until),
            expires_at=int(until) + KEEP_EXPIRED_SECONDS,
        )
        return grant

    def release(self, holder: str) -> bool:
        now = self._clock()
        released, _ = cas_update(
            self._store,
            lease_key(self.job),
            lambda current: plan_release(current, holder, now),
            expires_at=int(now) + KEEP_EXPIRED_SECONDS,
        )
        return released


@contextmanager
def held(lease: Lease, holder: str, seconds: float) -> Iterator[Grant]:
    """Run the block with the lease taken (check ``acquired``); it is released when the block ends,
    whether it returned or raised, so a failed run does not hold back the retry."""
    grant = lease.acquire(holder, seconds)
    try:
        yield grant
    finally:
        if grant.acquired:
            lease.release(holder)
