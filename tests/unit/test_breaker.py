"""Circuit breaker transitions and the single half-open probe, on the in-memory store."""

from __future__ import annotations

import threading
from typing import Any

from tests.fakes import MemoryVersionedStore
from thera.enrichment.breaker import CLOSED, HALF_OPEN, OPEN, BreakerConfig, CircuitBreaker

CFG = BreakerConfig(failure_threshold=3, cooldown_seconds=60, success_threshold=2, probe_timeout_seconds=120)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(
    store: MemoryVersionedStore, clock: Clock, owner: str, seen: list[tuple[str, str]] | None = None
) -> CircuitBreaker:
    return CircuitBreaker(
        store,
        "firecrawl",
        CFG,
        owner,
        clock,
        on_transition=(lambda a, b: seen.append((a, b))) if seen is not None else None,
    )


def test_a_run_of_failures_opens_and_open_refuses_until_the_cooldown() -> None:
    store, clock = MemoryVersionedStore(), Clock()
    seen: list[tuple[str, str]] = []
    b = breaker(store, clock, "a", seen)
    assert b.allow().allowed
    assert [b.record_failure() for _ in range(3)] == [CLOSED, CLOSED, OPEN]
    assert seen == [(CLOSED, OPEN)]
    clock.now += 30
    permit = b.allow()
    assert not permit.allowed and permit.state == OPEN and permit.retry_after == 30


def test_a_success_resets_the_run_of_failures() -> None:
    store, clock = MemoryVersionedStore(), Clock()
    b = breaker(store, clock, "a")
    b.record_failure()
    b.record_failure()
    b.record_success()
    assert b.record_failure() == CLOSED
    assert b.state()["failures"] == 1


def test_after_the_cooldown_one_probe_then_successes_close_it() -> None:
    store, clock = MemoryVersionedStore(), Clock()
    seen: list[tuple[str, str]] = []
    a, other = breaker(store, clock, "a", seen), breaker(store, clock, "b")
    for _ in range(3):
        a.record_failure()
    clock.now += 61
    probe = a.allow()
    assert probe.allowed and probe.probe and probe.state == HALF_OPEN
    assert not other.allow().allowed  # only one probe at a time
    assert a.record_success() == HALF_OPEN  # 1 of 2 successes
    second = other.allow()
    assert second.allowed and second.probe
    assert other.record_success() == CLOSED
    assert seen == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]
    assert [t[1:] for t in a.state()["transitions"]] == [[CLOSED, OPEN], [OPEN, HALF_OPEN], [HALF_OPEN, CLOSED]]


def test_a_failed_probe_reopens_for_a_new_cooldown() -> None:
    store, clock = MemoryVersionedStore(), Clock()
    b = breaker(store, clock, "a")
    for _ in range(3):
        b.record_failure()
    clock.now += 61
    assert b.allow().probe
    assert b.record_failure() == OPEN
    clock.now += 59
    assert not b.allow().allowed
    clock.now += 2
    assert b.allow().probe


def test_a_probe_that_never_reports_is_replaced_after_its_timeout() -> None:
    store, clock = MemoryVersionedStore(), Clock()
    a, other = breaker(store, clock, "a"), breaker(store, clock, "b")
    for _ in range(3):
        a.record_failure()
    clock.now += 61
    assert a.allow().probe
    clock.now += 121
    assert other.allow().probe
    assert a.record_success() == HALF_OPEN  # the lost probe's late answer changes nothing
    assert a.state()["successes"] == 0


def test_many_concurrent_consumers_elect_exactly_one_probe() -> None:
    store, clock = MemoryVersionedStore(), Clock()
    for _ in range(3):
        breaker(store, clock, "x").record_failure()
    clock.now += 61
    probes: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def consumer(name: str) -> None:
        b = breaker(store, clock, name)
        barrier.wait()
        for _ in range(20):
            if b.allow().allowed:
                with lock:
                    probes.append(name)

    threads = [threading.Thread(target=consumer, args=(f"c{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(probes) == 1


def test_open_since_spans_failed_probes_and_ends_when_closed() -> None:
    from thera.enrichment.breaker import open_since

    doc: dict[str, Any] = {
        "state": "open",
        "opened_at": 300.0,
        "transitions": [[100.0, "closed", "open"], [160.0, "open", "half_open"], [300.0, "half_open", "open"]],
    }
    assert open_since(doc) == 100.0  # the reopening after a failed probe is the same outage
    assert open_since({**doc, "state": "closed"}) is None
    again = {**doc, "transitions": [*doc["transitions"], [400.0, "half_open", "closed"], [500.0, "closed", "open"]]}
    assert open_since(again) == 500.0
