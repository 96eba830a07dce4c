"""The Apollo pull: page through organization search under the shared quota.

A sweep walks every page of the search once. Its cursor (next page, total pages)
is saved after each page is safely in the lake, so a run that stops (quota used
up, time running out, a crash) is resumed by the next run from the first page
not yet landed, and a page whose raw file already exists is rebuilt from that
file without another API call. Keys are partitioned by the sweep's start date, so a
sweep resumed on a later day still finds its own pages. A completed sweep is not repeated on the same
business day: the scheduler delivers at least once.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from thera.kernel import keys, schemas
from thera.kernel.outcomes import AsDict
from thera.kernel.ports import ApolloRateLimited, ObjectStore, SearchPage, StateStore
from thera.kernel.tables import from_rows, to_parquet
from thera.lake.companies import Lineage, bronze_record
from thera.lake.quota import TokenBucket

CURSOR_KEY = "cursor#apollo#organizations"
TIME_MARGIN_SECONDS = 20.0


class QuotaExhausted(RuntimeError):
    def __init__(self, windows: tuple[str, ...], retry_after: float) -> None:
        super().__init__(f"quota exhausted in window(s) {', '.join(windows)}; next token in {retry_after:.0f}s")
        self.windows = windows
        self.retry_after = retry_after


class OrganizationSearch(Protocol):
    async def search_organizations(
        self, page: int, per_page: int = 100, filters: Mapping[str, Any] | None = None
    ) -> SearchPage: ...


@dataclass
class QuotaGuard:
    """Spends one token per API attempt; waits for a window to reopen only if that is soon."""

    bucket: TokenBucket
    max_wait: float
    sleep: Callable[[float], Awaitable[None]]
    time_left: Callable[[], float]
    on_wait: Callable[[tuple[str, ...], float], None] | None = None
    calls: int = field(default=0, init=False)

    async def __call__(self) -> None:
        while True:
            decision = self.bucket.take()
            if decision.allowed:
                self.calls += 1
                return
            budget = min(self.max_wait, self.time_left() - TIME_MARGIN_SECONDS)
            if decision.retry_after > budget:
                raise QuotaExhausted(decision.exhausted, decision.retry_after)
            if self.on_wait:
                self.on_wait(decision.exhausted, decision.retry_after)
            await self.sleep(decision.retry_after)


@dataclass
class Cursor:
    sweep: str
    next_page: int = 1
    total_pages: int | None = None
    total_entries: int | None = None
    companies: int = 0
    complete: bool = False
    started_at: str = ""
    updated_at: str = ""

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Cursor:
        return cls(**{k: v for k, v in doc.items() if k in cls.__dataclass_fields__})

    @property
    def finished_paging(self) -> bool:
        return self.total_pages is not None and self.next_page > self.total_pages


@dataclass
class PullReport(AsDict):
    sweep: str
    status: str
    pages_fetched: int = 0
    pages_from_raw: int = 0
    companies: int = 0
    api_calls: int = 0
    next_page: int = 1
    total_pages: int | None = None
    stop_reason: str = ""
    bronze_keys: list[str] = field(default_factory=list)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pulled_at_of(metadata: dict[str, str]) -> datetime:
    """When a raw Apollo page was pulled, from the metadata it was landed with."""
    return datetime.fromisoformat(metadata["pulled-at"].replace("Z", "+00:00"))


def encode_raw_page(organizations: list[Any]) -> bytes:
    lines = "".join(json.dumps(org, ensure_ascii=False, sort_keys=True) + "\n" for org in organizations)
    return gzip.compress(lines.encode("utf-8"), mtime=0)


def decode_raw_page(data: bytes) -> list[Any]:
    return [json.loads(line) for line in gzip.decompress(data).decode("utf-8").splitlines() if line.strip()]


async def pull_companies(
    *,
    search: OrganizationSearch,
    guard: QuotaGuard,
    store: ObjectStore,
    cursors: StateStore,
    bronze_writer: Callable[[list[dict[str, Any]]], bytes],
    run_id: str,
    business_date: str,
    per_page: int,
    filters: Mapping[str, Any],
    now: Callable[[], datetime],
    time_left: Callable[[], float],
) -> PullReport:
    """Land raw and bronze pages until the sweep is done or the run must stop; save the cursor as it goes."""
    doc = cursors.get(CURSOR_KEY)
    cursor = Cursor.from_doc(doc) if doc else None
    if cursor and cursor.complete and cursor.sweep == business_date:
        return PullReport(cursor.sweep, "already_complete", next_page=cursor.next_page, total_pages=cursor.total_pages)
    if cursor is None or cursor.complete:
        cursor = Cursor(sweep=business_date, started_at=_iso(now()))

    report = PullReport(cursor.sweep, "running", next_page=cursor.next_page, total_pages=cursor.total_pages)
    while not cursor.finished_paging:
        if time_left() < TIME_MARGIN_SECONDS:
            report.status, report.stop_reason = "stopped", "function time almost used up"
            break
        page_no = cursor.next_page
        # keys follow the sweep (its start date), so a sweep resumed on a later day finds its own pages
        raw_key = keys.raw_apollo_page(cursor.sweep, cursor.sweep, page_no)
        landed = store.metadata(raw_key)
        if landed is not None:
            organizations = decode_raw_page(store.get(raw_key))
            total_pages, total_entries = int(landed["total-pages"]), int(landed["total-entries"])
            pulled_at = pulled_at_of(landed)
            report.pages_from_raw += 1
        else:
            try:
                page = await search.search_organizations(page_no, per_page, filters)
            except QuotaExhausted as exc:
                report.status, report.stop_reason = "quota_exhausted", str(exc)
                break
            except ApolloRateLimited as exc:
                report.status, report.stop_reason = "quota_exhausted", f"Apollo 429: {exc}"
                break
            organizations, total_pages, total_entries = page.organizations, page.total_pages, page.total_entries
            pulled_at = now()
            store.put(
                raw_key,
                encode_raw_page(organizations),
                {
                    "total-pages": str(total_pages),
                    "total-entries": str(total_entries),
                    "pulled-at": _iso(pulled_at),
                    "run-id": run_id,
                },
            )
            report.pages_fetched += 1
        if organizations:
            lineage = Lineage(run_id=run_id, sweep=cursor.sweep, raw_key=raw_key, page=page_no, pulled_at=pulled_at)
            rows = [bronze_record(org, i, lineage) for i, org in enumerate(organizations)]
            bronze_key = keys.bronze_companies_page(cursor.sweep, cursor.sweep, page_no)
            store.put(bronze_key, bronze_writer(rows), {"run-id": run_id, "raw-key": raw_key})
            report.bronze_keys.append(bronze_key)
        cursor.next_page = page_no + 1
        cursor.total_pages, cursor.total_entries = total_pages, total_entries
        cursor.companies += len(organizations)
        cursor.updated_at = _iso(now())
        report.companies += len(organizations)
        if not organizations:  # an empty page ends the sweep whatever the pagination claimed
            cursor.total_pages = min(total_pages, page_no)
        cursors.put(CURSOR_KEY, asdict(cursor))

    if cursor.finished_paging:
        cursor.complete = True
        cursor.updated_at = _iso(now())
        cursors.put(CURSOR_KEY, asdict(cursor))
        report.status = "complete"
    report.api_calls = guard.calls
    report.next_page, report.total_pages = cursor.next_page, cursor.total_pages
    return report


def bronze_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The pull's bronze writer: a page's records as one Parquet part."""
    return to_parquet(from_rows(rows, schemas.BRONZE))
