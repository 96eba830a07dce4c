from __future__ import annotations

import threading

import pytest

from tests.fakes import MemoryVersionedStore
from thera.kernel.lease import CLOCK_MARGIN_SECONDS, Lease, held, lease_key


class Clock:
    def __init__(self, now: float = 1_764_900_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store() -> MemoryVersionedStore:
    return MemoryVersionedStore()


def test_the_first_run_takes_the_lease_for_its_remaining_time_and_a_margin(
    store: MemoryVersionedStore, clock: Clock
) -> None:
    grant = Lease(store, "apollo_pull", clock).acquire("run-1", 900)
    assert grant.acquired and grant.holder == "run-1"
    assert grant.until == clock.now + 900 + CLOCK_MARGIN_SECONDS
    assert store.items[lease_key("apollo_pull")].doc["holder"] == "run-1"


def test_a_second_run_is_refused_while_the_first_may_still_run(store: MemoryVersionedStore, clock: Clock) -> None:
    lease = Lease(store, "apollo_pull", clock)
    first = lease.acquire("run-1", 900)
    clock.now += 899 + CLOCK_MARGIN_SECONDS
    second = lease.acquire("run-2", 900)
    assert not second.acquired
    assert (second.holder, second.until) == ("run-1", first.until)


def test_a_crashed_holders_lease_expires_and_the_next_run_takes_it(store: MemoryVersionedStore, clock: Clock) -> None:
    lease = Lease(store, "index_builder", clock)
    first = lease.acquire("crashed", 300)  # never released: the environment died
    clock.now = first.until + 0.001
    taken = lease.acquire("run-2", 300)
    assert taken.acquired and taken.holder == "run-2"


def test_a_released_lease_is_free_at_once(store: MemoryVersionedStore, clock: Clock) -> None:
    lease = Lease(store, "index_builder", clock)
    lease.acquire("run-1", 300)
    assert lease.release("run-1")
    clock.now += 1
    assert lease.acquire("run-2", 300).acquired


def test_a_late_release_does_not_free_the_lease_of_the_run_that_took_it_over(
    store: MemoryVersionedStore, clock: Clock
) -> None:
    lease = Lease(store, "index_builder", clock)
    first = lease.acquire("slow", 60)
    clock.now = first.until + 1
    assert lease.acquire("run-2", 300).acquired
    assert not lease.release("slow")
    assert not lease.acquire("run-3", 300).acquired


def test_a_retry_with_the_same_request_id_takes_its_own_lease_again(store: MemoryVersionedStore, clock: Clock) -> None:
    lease = Lease(store, "apollo_pull", clock)
    lease.acquire("request-1", 900)
    clock.now += 60
    assert lease.acquire("request-1", 840).acquired


def test_held_releases_when_the_work_raises(store: MemoryVersionedStore, clock: Clock) -> None:
    lease = Lease(store, "index_builder", clock)

    def build() -> None:
        with held(lease, "run-1", 300) as grant:
            assert grant.acquired
            raise RuntimeError("the build failed")

    with pytest.raises(RuntimeError, match="the build failed"):
        build()
    assert lease.acquire("run-2", 300).acquired


def test_held_does_not_release_a_lease_it_did_not_get(store: MemoryVersionedStore, clock: Clock) -> None:
    lease = Lease(store, "index_builder", clock)
    lease.acquire("run-1", 300)
    with held(lease, "run-2", 300) as grant:
        assert not grant.acquired
    assert store.items[lease_key("index_builder")].doc["holder"] == "run-1"


def test_of_many_runs_started_at_once_exactly_one_gets_the_lease(store: MemoryVersionedStore, clock: Clock) -> None:
    lease = Lease(store, "apollo_pull", clock)
    start = threading.Barrier(8)
    grants = []

    def run(i: int) -> None:
        start.wait()
        grants.append(lease.acquire(f"run-{i}", 900))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [g.holder for g in grants if g.acquired]
    assert len(winners) == 1
    assert all(g.holder == winners[0] for g in grants)
