"""The pull's sweep, cursor and resume logic, with in-memory ports."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tests.fakes import MemoryObjectStore, MemoryStateStore, MemoryVersionedStore
from thera.kernel import keys
from thera.kernel.ports import RateLimitInfo, SearchPage
from thera.kernel.tables import from_parquet
from thera.lake.ingest import (
    CURSOR_KEY,
    PullReport,
    QuotaGuard,
    bronze_parquet,
    cursor_key,
    decode_raw_page,
    encode_raw_page,
    pull_companies,
)
from thera.lake.quota import TokenBucket, default_windows
from thera.lake.segments import ALL, Segment, segment_of_sweep

T0 = 86400.0 * 20833


class FakeSearch:
    """Apollo's paging over a list, spending the guard's token per call like the real client."""

    def __init__(self, orgs: list[dict[str, Any]], guard: QuotaGuard, fail_on_page: int | None = None) -> None:
        self.orgs, self.guard, self.fail_on_page = orgs, guard, fail_on_page
        self.pages: list[int] = []
        self.calls: list[tuple[str, int]] = []  # (keyword tags searched, page)

    async def search_organizations(
        self, page: int, per_page: int = 100, filters: Mapping[str, Any] | None = None
    ) -> SearchPage:
        await self.guard()
        if page == self.fail_on_page:
            raise RuntimeError("crash while fetching")
        tags = set((filters or {}).get("q_organization_keyword_tags", []))
        orgs = [o for o in self.orgs if not tags or tags & set(o.get("keywords", []))]
        self.pages.append(page)
        self.calls.append((",".join(sorted(tags)), page))
        chunk = orgs[(page - 1) * per_page : page * per_page]
        total_pages = -(-len(orgs) // per_page)
        return SearchPage(chunk, page, per_page, len(orgs), total_pages, {}, RateLimitInfo({}))


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

    def pull(
        self, search: FakeSearch, guard: QuotaGuard, date: str = "2026-11-22", segments: tuple[Segment, ...] = ALL
    ) -> PullReport:
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
                segments=segments,
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


FINTECH = Segment("fintech-br", 70, {"q_organization_keyword_tags": ["fintech"]})
AI = Segment("ai-us", 30, {"q_organization_keyword_tags": ["ai"]})


def tagged(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"id": f"{tag}{i}", "name": f"{tag} {i}", "primary_domain": f"{tag}{i}.com", "keywords": [tag]}
        for i in range(n)
    ]


def pages_of(search: FakeSearch, tag: str) -> list[int]:
    return [page for tags, page in search.calls if tags == tag]


def test_two_segments_spend_the_day_70_30_and_the_next_day_resumes_each_where_it_stopped() -> None:
    env = Env(per_day=20)
    env.orgs = tagged(500, "fintech") + tagged(500, "ai")
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    first = env.pull(search, guard, segments=(FINTECH, AI))
    assert first.status == "quota_exhausted" and first.api_calls == 20
    by_name = {s.segment: s for s in first.segments}
    assert (by_name["fintech-br"].api_calls, by_name["ai-us"].api_calls) == (14, 6)
    assert (by_name["fintech-br"].companies, by_name["ai-us"].companies) == (140, 60)
    assert pages_of(search, "fintech") == list(range(1, 15)) and pages_of(search, "ai") == list(range(1, 7))
    assert env.cursors.get(cursor_key("fintech-br"))["next_page"] == 15  # type: ignore[index]
    assert env.cursors.get(cursor_key("ai-us"))["next_page"] == 7  # type: ignore[index]
    assert env.cursors.get(CURSOR_KEY) is None  # no "all" segment configured

    env.clock += 86400
    search.calls.clear()
    search.guard = guard = env.guard()
    second = env.pull(search, guard, date="2026-11-23", segments=(FINTECH, AI))
    assert second.api_calls == 20
    assert pages_of(search, "fintech") == list(range(15, 29)) and pages_of(search, "ai") == list(range(7, 13))
    assert [s.sweep for s in second.segments] == ["2026-11-22.fintech-br", "2026-11-22.ai-us"]


def test_bronze_rows_name_their_segment_through_the_sweep() -> None:
    env = Env(per_day=4)
    env.orgs = tagged(50, "fintech") + tagged(50, "ai")
    guard = env.guard()
    env.pull(FakeSearch(env.orgs, guard), guard, segments=(FINTECH, AI))
    rows = [r for k in env.store.list(keys.BRONZE_COMPANIES) for r in from_parquet(env.store.get(k)).to_pylist()]
    counted = Counter(segment_of_sweep(r["sweep"]) for r in rows)
    assert counted == {"fintech-br": 30, "ai-us": 10}  # 4 calls at 70/30: 3 pages and 1
    assert {r["keywords"][0] for r in rows if segment_of_sweep(r["sweep"]) == "ai-us"} == {"ai"}


def test_a_segment_done_early_leaves_its_calls_to_the_others() -> None:
    env = Env(per_day=20)
    env.orgs = tagged(500, "fintech") + tagged(15, "ai")  # the ai sweep is 2 pages
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    report = env.pull(search, guard, segments=(FINTECH, AI))
    by_name = {s.segment: s for s in report.segments}
    assert by_name["ai-us"].status == "complete" and by_name["ai-us"].api_calls == 2
    assert by_name["fintech-br"].api_calls == 18 and by_name["fintech-br"].status == "quota_exhausted"
    again = env.pull(search, guard, segments=(FINTECH, AI))  # same day, quota gone: ai is not swept again
    assert {s.segment: s.status for s in again.segments}["ai-us"] == "already_complete"
    assert pages_of(search, "ai") == [1, 2]


def test_a_cursor_saved_before_segments_is_resumed_by_the_all_segment() -> None:
    env = Env(n=45)
    old = {"sweep": "2026-11-20", "next_page": 4, "total_pages": 5, "total_entries": 45, "companies": 30}
    env.cursors.put(CURSOR_KEY, {**old, "complete": False, "started_at": "", "updated_at": ""})
    guard = env.guard()
    search = FakeSearch(env.orgs, guard)
    report = env.pull(search, guard, date="2026-11-22")
    assert report.status == "complete" and report.sweep == "2026-11-20" and search.pages == [4, 5]
    assert env.cursors.get(CURSOR_KEY)["companies"] == 45  # type: ignore[index]
