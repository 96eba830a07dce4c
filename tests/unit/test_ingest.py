"""The pull's sweep, cursor and resume logic, with in-memory ports."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tests.fakes import MemoryObjectStore, MemoryStateStore, MemoryVersionedStore
from thera.kernel import keys
from thera.kernel.ports import RateLimitInfo, SearchPage
from thera.lake.ingest import (
    CURSOR_KEY,
    PullReport,
    QuotaGuard,
    bronze_parquet,
    decode_raw_page,
    encode_raw_page,
    pull_companies,
)
from thera.lake.quota import TokenBucket, default_windows

T0 = 86400.0 * 20833


class FakeSearch:
    """Apollo's paging over a list, spending the guard's token per call like the real client."""

    def __init__(self, orgs: list[dict[str, Any]], guard: QuotaGuard, fail_on_page: int | None = None) -> None:
        self.orgs, self.guard, self.fail_on_page = orgs, guard, fail_on_page
        self.pages: list[int] = []

    async def search_organizations(
        self, page: int, per_page: int = 100, filters: Mapping[str, Any] | None = None
    ) -> SearchPage:
        await self.guard()
        if page == self.fail_on_page:
            raise RuntimeError("crash while fetching")
        self.pages.append(page)
        chunk = self.orgs[(page - 1) * per_page : page * per_page]
        total_pages = -(-len(self.orgs) // per_page)
        return SearchPage(chunk, page, per_page, len(self.orgs), total_pages, {}, RateLimitInfo({}))


class Env:
    def __init__(self, n: int = 25, per_day: int = 600) -> None:
        self.orgs = [{"id": str(i), "name": f"Co {i}", "primary_domain": f"co{i}.com"} for i in range(n)]
        self.store, self.cursors, self.buckets = MemoryObjectStore(), MemoryStateStore(), MemoryVersionedStore()
        self.clock = T0 + 3600 * 5
        self.per_day = per_day

    def guard(self) -> QuotaGuard:
        bucket = TokenBucket(self.buckets, "apollo", default_windows(50, 200, self.per_day), clock=lambda: self.clock)

        async def no_sleep(seconds: float) -> None:
            raise AssertionError("should not wait in these tests")

        return QuotaGuard(bucket, max_wait=0, sleep=no_sleep, time_left=lambda: 900.0)

    def pull(self, search: FakeSearch, guard: QuotaGuard, date: str = "2026-11-22") -> PullReport:
        return asyncio.run(
            pull_companies(
                search=search,
                guard=guard,
                store=self.store,
                cursors=self.cursors,
                bronze_writer=bronze_parquet,
                run_id="run-1",
                business_date=date,
                per_page=10,
                filters={},
                now=lambda: datetime(2026, 11, 22, 4, tzinfo=UTC),
                time_left=lambda: 900.0,
            )
        )


def test_a_sweep_lands_every_page_raw_and_bronze() -> None:
    env = Env(n=25)
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    report = env.pull(search, guard)
    assert report.status == "complete"
    assert (report.companies, report.pages_fetched, report.api_calls) == (25, 3, 3)
    assert search.pages == [1, 2, 3]
    raw = env.store.list(keys.RAW_APOLLO)
    assert len(raw) == 3 and len(env.store.list(keys.BRONZE_COMPANIES)) == 3
    assert [o["id"] for o in decode_raw_page(env.store.get(raw[2]))] == ["20", "21", "22", "23", "24"]
    cursor = env.cursors.get(CURSOR_KEY)
    assert cursor is not None and cursor["complete"] is True


def test_quota_exhaustion_stops_cleanly_and_the_next_run_resumes_without_refetching() -> None:
    env = Env(n=45, per_day=2)
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    first = env.pull(search, guard)
    assert first.status == "quota_exhausted" and "day" in first.stop_reason
    assert first.next_page == 3 and first.api_calls == 2
    cursor = env.cursors.get(CURSOR_KEY)
    assert cursor is not None and cursor["next_page"] == 3

    env.clock += 86400  # the next day: the day window refills
    guard = env.guard()
    search.guard = guard
    second = env.pull(search, guard, date="2026-11-23")
    assert second.status == "quota_exhausted" and second.next_page == 5
    env.clock += 86400
    guard = env.guard()
    search.guard = guard
    third = env.pull(search, guard, date="2026-11-24")
    assert third.status == "complete"
    assert search.pages == [1, 2, 3, 4, 5]  # every page fetched exactly once across three runs
    assert first.companies + second.companies + third.companies == 45


def crashed_after_landing_raw_page_2() -> Env:
    """A sweep of 3 pages begun on 2026-11-22 whose run died after page 2's raw file landed,
    before its bronze file and cursor were written."""
    env = Env(n=25)
    guard = env.guard()
    with contextlib.suppress(RuntimeError):
        env.pull(FakeSearch(env.orgs, guard, fail_on_page=2), guard, date="2026-11-22")
    page2 = asyncio.run(FakeSearch(env.orgs, env.guard()).search_organizations(2, 10))
    env.store.put(
        keys.raw_apollo_page("2026-11-22", "2026-11-22", 2),
        encode_raw_page(page2.organizations),
        {"total-pages": "3", "total-entries": "25", "pulled-at": "2026-11-22T04:00:00.000Z"},
    )
    return env


def test_a_page_whose_raw_file_landed_is_rebuilt_without_an_api_call() -> None:
    env = crashed_after_landing_raw_page_2()
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    report = env.pull(search, guard)
    assert report.status == "complete"
    assert report.pages_from_raw == 1 and search.pages == [3]


def test_a_completed_sweep_is_not_repeated_the_same_day_but_is_the_next() -> None:
    env = Env(n=5)
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    env.pull(search, guard)
    again = env.pull(search, guard)
    assert again.status == "already_complete" and search.pages == [1]
    tomorrow = env.pull(search, guard, date="2026-11-23")
    assert tomorrow.status == "complete" and tomorrow.sweep == "2026-11-23" and search.pages == [1, 1]


def test_an_empty_result_completes_the_sweep() -> None:
    env = Env(n=0)
    guard = env.guard()
    report = env.pull(FakeSearch([], guard), guard)
    assert report.status == "complete" and report.companies == 0
    assert env.store.list(keys.BRONZE_COMPANIES) == []


def test_a_sweep_resumed_on_a_later_day_reuses_its_landed_raw_page_and_writes_no_second_bronze_file() -> None:
    env = crashed_after_landing_raw_page_2()
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    report = env.pull(search, guard, date="2026-11-23")
    assert report.status == "complete" and report.sweep == "2026-11-22"
    assert report.pages_from_raw == 1 and search.pages == [3]
    bronze = env.store.list(keys.BRONZE_COMPANIES)
    assert len(bronze) == 3 and all("date=2026-11-22/" in k for k in bronze)
